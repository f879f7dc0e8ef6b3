"""Key lifecycle: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, EnableKey, DisableKey,
ScheduleKeyDeletion, CancelKeyDeletion."""

from __future__ import annotations

import json
import uuid
from typing import Any

from trent.authz.sources import principal_exists
from trent.crypto.keyspecs import UNSUPPORTED_SPECS, algorithm_fields, is_valid
from trent.errors import catalogue as errors
from trent.operations import keystores, pregen
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.external import proxy_error
from trent.operations.materials import create_private_material, create_symmetric_material
from trent.operations.paging import page
from trent.operations.rotation import catch_up_rotation
from trent.operations.states import KeyState, check_state
from trent.operations.tags import put_tags, validate_tags
from trent.policy import grammar
from trent.store import KeyRow, Store

DAY = 86400.0


# As GetKeyPolicy returns AWS's default key policy (Jackson's pretty printer: " : ", "[ {"),
# recorded in the AWS KMS Developer Guide ("Default key policy", ``aws kms get-key-policy``
# output in awsdocs/aws-kms-developer-guide).
_DEFAULT_POLICY = """{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::ACCOUNT:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}"""
MAX_POLICY_BYTES = 32768  # key policy document size (DevGuide, "Resource quotas")


def default_policy(account_id: str) -> str:
    """The key policy AWS applies when CreateKey is given none, byte for byte."""
    return _DEFAULT_POLICY.replace("ACCOUNT", account_id)


def check_policy(policy: str, store: Store | None = None) -> str:
    """``policy`` when KMS would accept it as a key policy; ``MalformedPolicyDocumentException``
    otherwise (not JSON, no statements, an element or condition operator the grammar refuses, a
    principal that is not an account id, an IAM/STS ARN or ``*``, or, given ``store``, one
    that names no existing account, user or role: ``principal_exists``; over 32 KB)."""
    if len(policy.encode()) > MAX_POLICY_BYTES:
        raise errors.POLICY_TOO_LARGE()
    try:
        document = json.loads(policy)
    except ValueError as exc:
        raise errors.POLICY_NOT_JSON() from exc
    if not isinstance(document, dict) or "Statement" not in document:
        raise errors.POLICY_NO_STATEMENT()
    try:
        known = None if store is None else (lambda name: principal_exists(store, name))
        grammar.check(policy, grammar.PolicyKind.KEY, known)
    except grammar.PolicyError as exc:
        if str(exc).startswith("Invalid principal"):
            raise errors.POLICY_INVALID_PRINCIPAL() from None
        raise errors.POLICY_SYNTAX(problem=str(exc)) from None
    return policy


def check_lockout(env: Env, call: Call, policy: str, key: KeyRow, req: Request) -> None:
    """AWS's lockout safety check: the new ``policy`` must let the caller call PutKeyPolicy
    on ``key`` later, unless ``BypassPolicyLockoutSafetyCheck`` (API-ref PutKeyPolicy,
    CreateKey)."""
    if req.get("BypassPolicyLockoutSafetyCheck"):
        return
    principal = call.principal
    assert principal is not None
    keys = env.condition_keys(call, key)
    arn = f"arn:aws:kms:{env.region}:{key.account_id or env.account_id}:key/{key.key_id}"
    verdict = env.authorizer.decide(principal, "kms:PutKeyPolicy", arn, policy, keys)
    if not verdict.allowed:
        raise errors.POLICY_LOCKOUT()


def key_metadata(env: Env, key: KeyRow) -> dict[str, Any]:
    state = keystores.key_state(env, key)
    metadata: dict[str, Any] = {
        "AWSAccountId": key.account_id or env.account_id,
        "KeyId": key.key_id,
        "Arn": env.keyring.arn(key.key_id),
        "CreationDate": key.created_at,
        "Enabled": state == KeyState.ENABLED,
        "Description": key.description,
        "KeyUsage": key.key_usage,
        "KeyState": state,
        "Origin": key.origin,
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": key.key_spec,  # deprecated; AWS still mirrors KeySpec
        "KeySpec": key.key_spec,
        **algorithm_fields(key.key_spec, key.key_usage),
        "MultiRegion": bool(key.multi_region),
    }
    if key.current_material_id:
        if key.key_spec == "SYMMETRIC_DEFAULT":  # AWS reports material ids for these only
            metadata["CurrentKeyMaterialId"] = key.current_material_id
        if key.origin == "EXTERNAL" and key.state != KeyState.PENDING_IMPORT:
            current = env.keyring.material_row(key, key.current_material_id)
            if current is not None and current.sealed and current.expiration_model:
                metadata["ExpirationModel"] = current.expiration_model
                if current.valid_to is not None:
                    metadata["ValidTo"] = current.valid_to
    if key.deletion_date is not None:
        metadata["DeletionDate"] = key.deletion_date
    if key.custom_key_store_id is not None:
        metadata["CustomKeyStoreId"] = key.custom_key_store_id
        metadata["XksKeyConfiguration"] = {"Id": key.xks_key_id}
    return metadata


# What an external key must be (API-ref XksKeyInvalidConfigurationException; the XKS spec's
# GetKeyMetadata: a 256-bit AES key that can encrypt and decrypt, enabled).
_XKS_USAGE = {"ENCRYPT", "DECRYPT"}


def _external_key(env: Env, call: Call, req: Request, key_spec: str, usage: str) -> tuple[str, str]:
    """The (store id, external key id) of a CreateKey with Origin EXTERNAL_KEY_STORE, checked
    against the store (CONNECTED) and, through GetKeyMetadata, the proxy."""
    store_id, xks_key_id = req.get("CustomKeyStoreId"), req.get("XksKeyId")
    if not store_id or not xks_key_id:
        raise errors.XKS_KEY_REQUIRED()
    if key_spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
        raise errors.XKS_KEY_SPEC()
    store = keystores.find_store(env, store_id)
    if store.state != keystores.ConnectionState.CONNECTED:
        raise errors.STORE_INVALID_STATE(store=store_id, state=store.state)
    if env.store.store_keys(store_id, xks_key_id):
        raise errors.XKS_KEY_IN_USE(xks_key_id=xks_key_id)
    try:
        found = keystores.proxy_client(env, store).key_metadata(
            xks_key_id, keystores.request_metadata(call)
        )
    except keystores.ProxyFailure as failure:
        if failure.error_name == "KeyNotFoundException":
            raise errors.XKS_KEY_NOT_FOUND(xks_key_id=xks_key_id, detail=str(failure)) from None
        if failure.error_name in ("InvalidStateException", "InvalidKeyUsageException"):
            raise errors.XKS_KEY_INVALID_CONFIGURATION(
                xks_key_id=xks_key_id, detail=str(failure)
            ) from None
        raise proxy_error(failure) from None
    if (
        found["keySpec"] != "AES_256"
        or not set(found["keyUsage"]) >= _XKS_USAGE
        or found["keyStatus"] != "ENABLED"
    ):
        detail = f"{found['keySpec']} {found['keyUsage']} {found['keyStatus']}"
        raise errors.XKS_KEY_INVALID_CONFIGURATION(xks_key_id=xks_key_id, detail=detail)
    return store_id, xks_key_id


def _key_usage(req: Request, key_spec: str) -> str:
    """The request's KeyUsage, checked against its KeySpec as AWS checks it."""
    if key_spec == "SM2":
        raise errors.KEY_SPEC_CHINA()
    if key_spec in UNSUPPORTED_SPECS:
        raise errors.KEY_SPEC_UNSUPPORTED(spec=key_spec)
    usage = req.get("KeyUsage")
    if usage is None:
        if key_spec != "SYMMETRIC_DEFAULT":
            raise errors.KEY_USAGE_REQUIRED()
        usage = "ENCRYPT_DECRYPT"
    if not is_valid(key_spec, usage):
        raise errors.KEY_USAGE_FOR_SPEC(usage=usage, spec=key_spec)
    return str(usage)


def create_key(env: Env, call: Call, req: Request) -> Response:
    env.authorize(call, "CreateKey")
    key_spec = req.get("KeySpec") or req.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if req.get("KeySpec") and req.get("CustomerMasterKeySpec"):
        raise errors.BOTH_KEY_SPECS()
    key_usage = _key_usage(req, key_spec)
    origin = req.get("Origin", "AWS_KMS")
    if origin not in ("AWS_KMS", "EXTERNAL", "EXTERNAL_KEY_STORE"):
        raise errors.ORIGIN_UNSUPPORTED(origin=origin)
    if origin != "EXTERNAL_KEY_STORE" and (req.get("CustomKeyStoreId") or req.get("XksKeyId")):
        raise errors.CUSTOM_STORE_NEEDS_ORIGIN()
    if req.get("MultiRegion"):
        raise errors.NO_MULTI_REGION()
    policy = (
        check_policy(req["Policy"], env.store)
        if "Policy" in req
        else default_policy(env.account_id)
    )
    tags = validate_tags(req.get("Tags", []))
    store_id = xks_key_id = None
    if origin == "EXTERNAL_KEY_STORE":
        store_id, xks_key_id = _external_key(env, call, req, key_spec, key_usage)

    now = env.clock.now()
    key = KeyRow(
        key_id=str(uuid.uuid4()),
        created_at=now,
        description=req.get("Description", ""),
        key_usage=key_usage,
        key_spec=key_spec,
        origin=origin,
        state=KeyState.PENDING_IMPORT if origin == "EXTERNAL" else KeyState.ENABLED,
        policy=policy,
        custom_key_store_id=store_id,
        xks_key_id=xks_key_id,
    )
    if "Policy" in req:
        check_lockout(env, call, policy, key, req)
    with env.write():
        if store_id is not None and env.store.store_keys(store_id, xks_key_id):
            raise errors.XKS_KEY_IN_USE(xks_key_id=xks_key_id)
        env.store.insert_key(key)
        if origin != "EXTERNAL":  # an EXTERNAL key waits for ImportKeyMaterial
            if key_spec == "SYMMETRIC_DEFAULT":
                material = create_symmetric_material(env, key.key_id, None, now)
            else:
                private = pregen.private_key(call, key_spec)
                material = create_private_material(env, key.key_id, key_spec, now, private)
            key.current_material_id = material.material_id
            env.store.update_key(key)
        put_tags(env, key.key_id, tags)
    return {"KeyMetadata": key_metadata(env, key)}


def describe_key(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"])
    env.authorize(call, "DescribeKey", key)
    return {"KeyMetadata": key_metadata(env, key)}


def list_keys(env: Env, call: Call, req: Request) -> Response:
    env.authorize(call, "ListKeys")
    keys, more = page(req, env.store.list_keys, lambda k: k.key_id)
    entries = [{"KeyId": k.key_id, "KeyArn": env.keyring.arn(k.key_id)} for k in keys]
    return {"Keys": entries, **more}


def update_key_description(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, "UpdateKeyDescription", key)
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state("UpdateKeyDescription", key.state, env.keyring.arn(key.key_id))
        key.description = req["Description"]
        env.store.update_key(key)
    return {}


def _set_enabled(env: Env, call: Call, req: Request, operation: str) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, operation, key)
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state(operation, key.state, env.keyring.arn(key.key_id))
        key.state = KeyState.ENABLED if operation == "EnableKey" else KeyState.DISABLED
        env.store.update_key(key)
        catch_up_rotation(env, key)
    return {}


def enable_key(env: Env, call: Call, req: Request) -> Response:
    return _set_enabled(env, call, req, "EnableKey")


def disable_key(env: Env, call: Call, req: Request) -> Response:
    return _set_enabled(env, call, req, "DisableKey")


def schedule_key_deletion(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, "ScheduleKeyDeletion", key)
    days = req.get("PendingWindowInDays", 30)
    if not 7 <= days <= 30:
        raise errors.PENDING_WINDOW()
    arn = env.keyring.arn(key.key_id)
    check_state("ScheduleKeyDeletion", key.state, arn)
    check_dry_run(req)
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state("ScheduleKeyDeletion", key.state, arn)
        key.state = KeyState.PENDING_DELETION
        key.deletion_date = env.clock.now() + days * DAY
        key.pending_window_days = days
        env.store.update_key(key)
    return {
        "KeyId": arn,
        "DeletionDate": key.deletion_date,
        "KeyState": key.state,
        "PendingWindowInDays": days,
    }


def cancel_key_deletion(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, "CancelKeyDeletion", key)
    arn = env.keyring.arn(key.key_id)
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state("CancelKeyDeletion", key.state, arn)
        key.state = KeyState.DISABLED
        key.deletion_date = None
        key.pending_window_days = None
        env.store.update_key(key)
    return {"KeyId": arn}


HANDLERS = {
    "CreateKey": create_key,
    "DescribeKey": describe_key,
    "ListKeys": list_keys,
    "UpdateKeyDescription": update_key_description,
    "EnableKey": enable_key,
    "DisableKey": disable_key,
    "ScheduleKeyDeletion": schedule_key_deletion,
    "CancelKeyDeletion": cancel_key_deletion,
}
