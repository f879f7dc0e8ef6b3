"""Custom key stores of type EXTERNAL_KEY_STORE: CreateCustomKeyStore, ConnectCustomKeyStore,
DisconnectCustomKeyStore, DescribeCustomKeyStores, UpdateCustomKeyStore, DeleteCustomKeyStore.

Follows the API Reference of each operation and the Developer Guide's "External key stores"
pages. A store names an external key store proxy (``XksProxyUriEndpoint`` +
``XksProxyUriPath``) and the proxy authentication credential (its secret sealed by the barrier,
purpose ``SECRET_PURPOSE``, owner the store id). Only ``XksProxyConnectivity=PUBLIC_ENDPOINT``:
a VPC endpoint service is ``XksProxyVpcEndpointServiceNotFoundException``, an ``AWS_CLOUDHSM``
store ``UnsupportedOperationException``. The endpoint is ``https://host[:port]``;
``http://`` is accepted for a loopback host only (tests, a proxy on the same machine).

Connection states (``ConnectionState``): a new store is ``DISCONNECTED``; ConnectCustomKeyStore
checks the proxy with GetHealthStatus at once (AWS does it asynchronously through
``CONNECTING``) and leaves the store ``CONNECTED``, or ``FAILED`` with a ``ConnectionErrorCode``
(``XKS_PROXY_NOT_REACHABLE``, ``XKS_PROXY_TIMED_OUT``, ``INVALID_CREDENTIALS``,
``XKS_PROXY_ACCESS_DENIED``, ``XKS_PROXY_INVALID_CONFIGURATION``,
``XKS_PROXY_INVALID_RESPONSE``, ``XKS_PROXY_INVALID_TLS_CONFIGURATION``); the operation itself
succeeds either way, as AWS's does. Create and Update check the proxy the same way and refuse
with the matching exception (``XksProxyUriUnreachableException``,
``XksProxyIncorrectAuthenticationCredentialException``, ...). While a store is not
``CONNECTED`` its keys are ``Unavailable`` (``key_state``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from trent.config import is_loopback
from trent.errors import KMSError
from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Request, Response
from trent.operations.paging import page
from trent.operations.states import KeyState
from trent.seal import BarrierError
from trent.store import CustomKeyStoreRow, KeyRow
from trent.xks.client import FailureKind, ProxyClient, ProxyEndpoint, ProxyFailure

__all__ = ["ConnectionState", "ProxyFailure", "find_store", "key_state", "proxy_client"]

SECRET_PURPOSE = "xks-proxy-secret"
EXTERNAL_KEY_STORE = "EXTERNAL_KEY_STORE"
PUBLIC_ENDPOINT = "PUBLIC_ENDPOINT"


class ConnectionState(StrEnum):
    CONNECTED = "CONNECTED"
    CONNECTING = "CONNECTING"
    FAILED = "FAILED"
    DISCONNECTED = "DISCONNECTED"
    DISCONNECTING = "DISCONNECTING"


@dataclass(frozen=True)
class _Refusal:
    """How one proxy failure is answered: the exception (Create, Update) and the
    ConnectionErrorCode (Connect)."""

    error: KMSError
    code: str


def _refusal(failure: ProxyFailure) -> _Refusal:
    kind, name = failure.kind, failure.error_name
    detail = f"the proxy check failed: {failure}"
    if kind is FailureKind.UNREACHABLE:
        return _Refusal(errors.XKS_UNREACHABLE(detail=detail), "XKS_PROXY_NOT_REACHABLE")
    if kind is FailureKind.TIMED_OUT:
        return _Refusal(errors.XKS_UNREACHABLE(detail=detail), "XKS_PROXY_TIMED_OUT")
    if kind is FailureKind.TLS:
        problem = "its TLS certificate is not trusted or its TLS configuration is invalid."
        error = errors.XKS_INVALID_CONFIGURATION(problem=problem, detail=detail)
        return _Refusal(error, "XKS_PROXY_INVALID_TLS_CONFIGURATION")
    if name == "AuthenticationFailedException":
        return _Refusal(errors.XKS_BAD_CREDENTIAL(detail=detail), "INVALID_CREDENTIALS")
    if name == "AccessDeniedException":
        problem = "it denied the request (AccessDeniedException)."
        error = errors.XKS_INVALID_CONFIGURATION(problem=problem, detail=detail)
        return _Refusal(error, "XKS_PROXY_ACCESS_DENIED")
    if name == "InvalidUriPathException":
        problem = "the XksProxyUriPath is not valid for this proxy (InvalidUriPathException)."
        error = errors.XKS_INVALID_CONFIGURATION(problem=problem, detail=detail)
        return _Refusal(error, "XKS_PROXY_INVALID_CONFIGURATION")
    return _Refusal(errors.XKS_INVALID_RESPONSE(detail=detail), "XKS_PROXY_INVALID_RESPONSE")


# --- helpers shared with the key operations --------------------------------------------------
def find_store(env: Env, store_id: str) -> CustomKeyStoreRow:
    """The caller's account's store ``store_id``, or ``CustomKeyStoreNotFoundException``."""
    row = env.store.get_custom_key_store(store_id)
    if row is None or row.account_id != env.account_id:
        raise errors.CUSTOM_KEY_STORE_NOT_FOUND(store=store_id)
    return row


def store_of(env: Env, key: KeyRow) -> CustomKeyStoreRow:
    """The store of an external key store's key (of any account: the key was authorized)."""
    assert key.custom_key_store_id is not None
    row = env.store.get_custom_key_store(key.custom_key_store_id)
    if row is None or row.state != ConnectionState.CONNECTED:
        raise errors.KEY_STATE(arn=env.keyring.arn(key.key_id), phrase="unavailable")
    return row


def proxy_client(env: Env, row: CustomKeyStoreRow) -> ProxyClient:
    """A client for the store's proxy, the credential's secret unsealed for it."""
    try:
        secret = env.barrier.open(SECRET_PURPOSE, row.custom_key_store_id, row.sealed_secret)
    except BarrierError as exc:
        raise errors.INTERNAL(detail="a proxy credential failed to open") from exc
    endpoint = ProxyEndpoint(
        row.uri_endpoint, row.uri_path, row.access_key_id, secret.decode(), env.region
    )
    return ProxyClient(endpoint)


def key_state(env: Env, key: KeyRow) -> str:
    """``key``'s state as KMS reports it: ``Unavailable`` for a key of an external key store
    that is not ``CONNECTED`` (unless pending deletion), else its stored state."""
    if key.custom_key_store_id is None or key.state == KeyState.PENDING_DELETION:
        return key.state
    row = env.store.get_custom_key_store(key.custom_key_store_id)
    if row is None or row.state != ConnectionState.CONNECTED:
        return KeyState.UNAVAILABLE
    return key.state


def request_metadata(call: Call, key_arn: str | None = None) -> dict[str, str]:
    """The spec's ``requestMetadata`` for a proxy call made for ``call``."""
    metadata = {"kmsOperation": call.operation or "KmsHealthCheck", "kmsRequestId": call.request_id}
    if call.principal is not None:
        metadata["awsPrincipalArn"] = call.principal.arn
    if key_arn is not None:
        metadata["kmsKeyArn"] = key_arn
    return metadata


def _health(env: Env, call: Call, row: CustomKeyStoreRow) -> _Refusal | None:
    """GetHealthStatus on the store's proxy: None when it is usable."""
    try:
        reply = proxy_client(env, row).health(request_metadata(call))
    except ProxyFailure as failure:
        return _refusal(failure)
    fleet = reply["ekmFleetDetails"]
    if fleet and all(d.get("healthStatus") == "UNAVAILABLE" for d in fleet):
        detail = "every external key manager instance is UNAVAILABLE"
        return _Refusal(errors.XKS_UNREACHABLE(detail=detail), "XKS_PROXY_NOT_REACHABLE")
    return None


# --- checks of the request -------------------------------------------------------------------
def _check_type(req: Request, creating: bool) -> None:
    if creating and req.get("CustomKeyStoreType", "AWS_CLOUDHSM") != EXTERNAL_KEY_STORE:
        raise errors.CLOUDHSM_KEY_STORES()
    for member in ("CloudHsmClusterId", "TrustAnchorCertificate", "KeyStorePassword"):
        if member in req:
            raise errors.STORE_PARAMETER_NOT_FOR_XKS(member=member)
    if req.get("XksProxyConnectivity", PUBLIC_ENDPOINT) != PUBLIC_ENDPOINT:
        raise errors.VPC_CONNECTIVITY()
    if "XksProxyVpcEndpointServiceName" in req:
        raise errors.VPC_CONNECTIVITY()


def _check_endpoint(endpoint: str) -> str:
    """``https://host[:port]``, or ``http://`` to a loopback host."""
    parts = urlsplit(endpoint)
    if parts.path or parts.query or parts.fragment or not parts.hostname:
        raise errors.XKS_ENDPOINT_NOT_HTTPS(detail=f"not an endpoint URL: {endpoint}")
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname)):
        return endpoint
    raise errors.XKS_ENDPOINT_NOT_HTTPS()


def _check_unique(env: Env, row: CustomKeyStoreRow) -> None:
    for other in env.store.list_custom_key_stores():
        if other.custom_key_store_id == row.custom_key_store_id:
            continue
        if other.name == row.name:
            raise errors.STORE_NAME_IN_USE()
        if (other.uri_endpoint, other.uri_path) == (row.uri_endpoint, row.uri_path):
            raise errors.STORE_URI_IN_USE()


def _seal_secret(env: Env, store_id: str, credential: dict[str, str]) -> tuple[str, bytes]:
    secret = credential["RawSecretAccessKey"].encode()
    return credential["AccessKeyId"], env.barrier.seal(SECRET_PURPOSE, store_id, secret)


def _invalid_state(row: CustomKeyStoreRow, *allowed: ConnectionState) -> None:
    if row.state not in allowed:
        raise errors.STORE_INVALID_STATE(store=row.custom_key_store_id, state=row.state)


# --- the operations --------------------------------------------------------------------------
def create_custom_key_store(env: Env, call: Call, req: Request) -> Response:
    env.authorize(call, "CreateCustomKeyStore")
    _check_type(req, creating=True)
    for member in ("XksProxyUriEndpoint", "XksProxyUriPath", "XksProxyAuthenticationCredential"):
        if member not in req:
            raise errors.STORE_PARAMETER_MISSING(member=member)
    store_id = "cks-" + secrets.token_hex(9)[:17]
    access_key_id, sealed = _seal_secret(env, store_id, req["XksProxyAuthenticationCredential"])
    row = CustomKeyStoreRow(
        custom_key_store_id=store_id,
        name=req["CustomKeyStoreName"],
        store_type=EXTERNAL_KEY_STORE,
        created_at=env.clock.now(),
        state=ConnectionState.DISCONNECTED,
        error_code=None,
        uri_endpoint=_check_endpoint(req["XksProxyUriEndpoint"]),
        uri_path=req["XksProxyUriPath"],
        connectivity=PUBLIC_ENDPOINT,
        access_key_id=access_key_id,
        sealed_secret=sealed,
        account_id=env.account_id,
    )
    _check_unique(env, row)
    refusal = _health(env, call, row)
    if refusal is not None:
        raise refusal.error
    with env.write():
        _check_unique(env, row)
        env.store.insert_custom_key_store(row)
    return {"CustomKeyStoreId": store_id}


def connect_custom_key_store(env: Env, call: Call, req: Request) -> Response:
    env.authorize(call, "ConnectCustomKeyStore")
    row = find_store(env, req["CustomKeyStoreId"])
    _invalid_state(row, ConnectionState.DISCONNECTED, ConnectionState.CONNECTED)
    if row.state == ConnectionState.CONNECTED:
        return {}
    refusal = _health(env, call, row)
    with env.write():
        row = find_store(env, row.custom_key_store_id)
        _invalid_state(row, ConnectionState.DISCONNECTED, ConnectionState.CONNECTED)
        row.state = ConnectionState.CONNECTED if refusal is None else ConnectionState.FAILED
        row.error_code = None if refusal is None else refusal.code
        env.store.update_custom_key_store(row)
    return {}


def disconnect_custom_key_store(env: Env, call: Call, req: Request) -> Response:
    env.authorize(call, "DisconnectCustomKeyStore")
    with env.write():
        row = find_store(env, req["CustomKeyStoreId"])
        _invalid_state(row, ConnectionState.CONNECTED, ConnectionState.FAILED)
        row.state, row.error_code = ConnectionState.DISCONNECTED, None
        env.store.update_custom_key_store(row)
    return {}


def _entry(row: CustomKeyStoreRow) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "CustomKeyStoreId": row.custom_key_store_id,
        "CustomKeyStoreName": row.name,
        "ConnectionState": row.state,
        "CreationDate": row.created_at,
        "CustomKeyStoreType": row.store_type,
        "XksProxyConfiguration": {
            "Connectivity": row.connectivity,
            "AccessKeyId": row.access_key_id,
            "UriEndpoint": row.uri_endpoint,
            "UriPath": row.uri_path,
        },
    }
    if row.state == ConnectionState.FAILED and row.error_code:
        entry["ConnectionErrorCode"] = row.error_code
    return entry


def describe_custom_key_stores(env: Env, call: Call, req: Request) -> Response:
    env.authorize(call, "DescribeCustomKeyStores")
    if "CustomKeyStoreId" in req and "CustomKeyStoreName" in req:
        raise errors.STORE_ID_AND_NAME()
    rows = sorted(env.store.list_custom_key_stores(), key=lambda r: r.custom_key_store_id)
    if "CustomKeyStoreId" in req:
        rows = [find_store(env, req["CustomKeyStoreId"])]
    elif "CustomKeyStoreName" in req:
        rows = [r for r in rows if r.name == req["CustomKeyStoreName"]]
        if not rows:
            raise errors.STORE_NAME_NOT_FOUND(name=req["CustomKeyStoreName"])

    def fetch(after: str | None, limit: int) -> list[CustomKeyStoreRow]:
        return [r for r in rows if r.custom_key_store_id > (after or "")][:limit]

    found, more = page(req, fetch, lambda r: r.custom_key_store_id)
    return {"CustomKeyStores": [_entry(r) for r in found], **more}


def update_custom_key_store(env: Env, call: Call, req: Request) -> Response:
    env.authorize(call, "UpdateCustomKeyStore")
    row = find_store(env, req["CustomKeyStoreId"])
    _check_type(req, creating=False)
    if {"XksProxyUriEndpoint", "XksProxyConnectivity"} & set(req):
        _invalid_state(row, ConnectionState.DISCONNECTED)
    if "NewCustomKeyStoreName" in req:
        row.name = req["NewCustomKeyStoreName"]
    if "XksProxyUriEndpoint" in req:
        row.uri_endpoint = _check_endpoint(req["XksProxyUriEndpoint"])
    if "XksProxyUriPath" in req:
        row.uri_path = req["XksProxyUriPath"]
    if "XksProxyAuthenticationCredential" in req:
        credential = req["XksProxyAuthenticationCredential"]
        row.access_key_id, row.sealed_secret = _seal_secret(
            env, row.custom_key_store_id, credential
        )
    _check_unique(env, row)
    proxy_changed = {"XksProxyUriEndpoint", "XksProxyUriPath", "XksProxyAuthenticationCredential"}
    if proxy_changed & set(req):
        refusal = _health(env, call, row)
        if refusal is not None:
            raise refusal.error
    with env.write():
        current = find_store(env, row.custom_key_store_id)
        row.state, row.error_code = current.state, current.error_code
        _check_unique(env, row)
        env.store.update_custom_key_store(row)
    return {}


def delete_custom_key_store(env: Env, call: Call, req: Request) -> Response:
    env.authorize(call, "DeleteCustomKeyStore")
    with env.write():
        row = find_store(env, req["CustomKeyStoreId"])
        _invalid_state(row, ConnectionState.DISCONNECTED)
        if env.store.store_keys(row.custom_key_store_id, None):
            raise errors.STORE_HAS_KEYS(store=row.custom_key_store_id)
        env.store.delete_custom_key_store(row.custom_key_store_id)
    return {}


HANDLERS = {
    "CreateCustomKeyStore": create_custom_key_store,
    "ConnectCustomKeyStore": connect_custom_key_store,
    "DisconnectCustomKeyStore": disconnect_custom_key_store,
    "DescribeCustomKeyStores": describe_custom_key_stores,
    "UpdateCustomKeyStore": update_custom_key_store,
    "DeleteCustomKeyStore": delete_custom_key_store,
}
