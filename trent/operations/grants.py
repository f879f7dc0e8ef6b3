"""Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

A grant lets its grantee principal perform the operations it lists on one key, under its
encryption context constraints (evaluation: ``trent.policy.grants``; the call site is
``Env.authorize``, which consults grants only when the authorizer refuses). Sources: the API
Reference for each operation and ``GrantConstraints``, and the Developer Guide's "Grants in
AWS KMS".

- ``GrantId``: 64 lowercase hex digits. A CreateGrant with a ``Name`` and the same parameters as
  a live grant of that name returns that grant's id (and a new token) [API-ref CreateGrant Name].
- ``GrantToken``: the barrier-sealed grant itself (``TOKEN_PURPOSE``), base64url text. It is
  self-verifying: passed in ``GrantTokens`` it allows at once, without reading storage, unless
  the grant has been retired or revoked since. A token that does not open is
  ``InvalidGrantTokenException``.
- A grant's operations must suit its key (``OPERATIONS_FOR_USAGE``); encryption context
  constraints need a symmetric encryption key; at most ``MAX_GRANTS_PER_KEY`` live grants.
- Grants end with their key (the store deletes them by cascade).
- RetireGrant: by the grant's retiring principal, its grantee when it lists ``RetireGrant``, or
  a principal the key's account allows ``kms:RetireGrant``. RevokeGrant: ``kms:RevokeGrant``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.paging import page
from trent.operations.states import check_state
from trent.policy.grants import Grant, grantee_matches
from trent.seal import BarrierError
from trent.store import GrantRow, KeyRow

TOKEN_PURPOSE = "grant-token"
TOKEN_OWNER = "grant"
MAX_GRANTS_PER_KEY = 50_000  # DevGuide resource-limits: "Grants per KMS key"
_TOKEN_CACHE_LIMIT = 10_000
_COMMON = frozenset({"CreateGrant", "RetireGrant", "DescribeKey"})
# The grant operations each kind of key supports [API-ref CreateGrant; DevGuide grants
# "Grant operations"], by (key usage, symmetric?).
OPERATIONS_FOR_USAGE: dict[tuple[str, bool], frozenset[str]] = {
    ("ENCRYPT_DECRYPT", True): _COMMON
    | {
        "Encrypt",
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    },
    ("ENCRYPT_DECRYPT", False): _COMMON
    | {"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"},
    ("SIGN_VERIFY", False): _COMMON | {"Sign", "Verify", "GetPublicKey"},
    ("GENERATE_VERIFY_MAC", False): _COMMON | {"GenerateMac", "VerifyMac"},
    ("KEY_AGREEMENT", False): _COMMON | {"DeriveSharedSecret", "GetPublicKey"},
    ("ENCAPSULATE_DECAPSULATE", False): _COMMON | {"Encapsulate", "Decapsulate", "GetPublicKey"},
}


# --- grant tokens ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a grant token carries: the grant, the key ARN it is on, its retiring principal."""

    grant: Grant
    key_arn: str
    retiring_principal: str | None


_opened: dict[str, TokenGrant] = {}


def seal_token(env: Env, row: GrantRow, key_arn: str) -> str:
    payload = {
        "id": row.grant_id,
        "key": key_arn,
        "grantee": row.grantee_principal,
        "retiring": row.retiring_principal,
        "ops": sorted(orjson.loads(row.operations)),
        "cons": orjson.loads(row.constraints) if row.constraints else None,
    }
    sealed = env.barrier.seal(TOKEN_PURPOSE, TOKEN_OWNER, orjson.dumps(payload))
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def open_token(env: Env, token: str) -> TokenGrant:
    """The grant a token carries, or ``InvalidGrantTokenException``. Opened tokens are cached
    per worker (a token never changes meaning; revocation is checked against the key)."""
    found = _opened.get(token)
    if found is not None:
        return found
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = orjson.loads(env.barrier.open(TOKEN_PURPOSE, TOKEN_OWNER, sealed))
    except (BarrierError, binascii.Error, ValueError) as exc:
        raise errors.INVALID_GRANT_TOKEN(detail="the grant token does not open") from exc
    constraints = payload["cons"] or {}
    key_arn = payload["key"]
    grant = Grant(
        grant_id=payload["id"],
        key_id=key_arn.rsplit("/", 1)[-1],
        grantee_principal=payload["grantee"],
        operations=frozenset(payload["ops"]),
        context_subset=constraints.get("EncryptionContextSubset"),
        context_equals=constraints.get("EncryptionContextEquals"),
        source_arn=constraints.get("SourceArn"),
    )
    if len(_opened) >= _TOKEN_CACHE_LIMIT:
        _opened.clear()
    found = _opened[token] = TokenGrant(grant, key_arn, payload["retiring"])
    return found


def token_grants(env: Env, tokens: Sequence[str], key: KeyRow) -> list[Grant]:
    """The grants on ``key`` that ``tokens`` (a request's ``GrantTokens``) carry and that are
    not retired or revoked. Every token must open."""
    opened = [open_token(env, t).grant for t in tokens]
    ended = env.keyring.grants(key).ended
    return [g for g in opened if g.key_id == key.key_id and g.grant_id not in ended]


# --- CreateGrant ----------------------------------------------------------------------------------
def _grant_key(env: Env, call: Call, req: Request, operation: str) -> KeyRow:
    key = env.keyring.resolve(req["KeyId"], aliases=False, foreign=True)
    env.authorize(call, operation, key)
    return key


def _check_operations(key: KeyRow, operations: Sequence[str]) -> None:
    if set(operations) == {"CreateGrant"}:
        raise errors.GRANT_ONLY_CREATE_GRANT()
    suited = OPERATIONS_FOR_USAGE.get((key.key_usage, key.key_spec == "SYMMETRIC_DEFAULT"), _COMMON)
    for operation in operations:
        if operation not in suited:
            raise errors.GRANT_OPERATION_FOR_KEY(
                spec=key.key_spec, usage=key.key_usage, operation=operation
            )


def _check_constraints(key: KeyRow, constraints: Mapping[str, Any] | None) -> None:
    if not constraints:
        return
    subset, equals = (
        "EncryptionContextSubset" in constraints,
        "EncryptionContextEquals" in (constraints),
    )
    if subset and equals:
        raise errors.GRANT_CONSTRAINT_BOTH()
    if (subset or equals) and key.key_spec != "SYMMETRIC_DEFAULT":
        raise errors.GRANT_CONSTRAINT_FOR_KEY(spec=key.key_spec)


def _at_least_as_strict(child: Mapping[str, Any], parent: Mapping[str, Any]) -> bool:
    """A grant made through a grant's CreateGrant permission is held to that grant: its
    constraints must be at least as strict (DevGuide grants, "CreateGrant" operation)."""
    p_sub, p_eq = parent.get("EncryptionContextSubset"), parent.get("EncryptionContextEquals")
    c_sub, c_eq = child.get("EncryptionContextSubset"), child.get("EncryptionContextEquals")

    def folded(m: Mapping[str, str]) -> dict[str, str]:
        return {k.lower(): v for k, v in m.items()}

    if p_eq is not None:
        return c_eq is not None and folded(c_eq) == folded(p_eq)
    if p_sub is not None:
        held = c_sub if c_sub is not None else c_eq
        return held is not None and folded(p_sub).items() <= folded(held).items()
    return True


def _check_delegation(env: Env, call: Call, key: KeyRow, req: Request) -> None:
    """When CreateGrant itself was allowed by a grant, the new grant may not exceed it."""
    if call.grant_id is None:
        return
    parent = next((g for g in env.keyring.grants(key).live if g.grant_id == call.grant_id), None)
    if parent is None:
        tokens = token_grants(env, req.get("GrantTokens") or [], key)
        parent = next((g for g in tokens if g.grant_id == call.grant_id), None)
    if parent is None:
        return
    constraints = req.get("Constraints") or {}
    parent_constraints: dict[str, Any] = {}
    if parent.context_subset is not None:
        parent_constraints["EncryptionContextSubset"] = parent.context_subset
    if parent.context_equals is not None:
        parent_constraints["EncryptionContextEquals"] = parent.context_equals
    if not set(req["Operations"]) <= parent.operations or not _at_least_as_strict(
        constraints, parent_constraints
    ):
        assert call.principal is not None
        raise errors.ACCESS_DENIED(
            principal=call.principal.arn,
            action="kms:CreateGrant",
            resource=env.keyring.arn(key.key_id),
            detail=f"the new grant exceeds grant {parent.grant_id} that allows CreateGrant",
        )


def _same(row: GrantRow, candidate: GrantRow) -> bool:
    return (
        row.grantee_principal == candidate.grantee_principal
        and row.grantee_service_principal == candidate.grantee_service_principal
        and row.retiring_principal == candidate.retiring_principal
        and row.retiring_service_principal == candidate.retiring_service_principal
        and sorted(orjson.loads(row.operations)) == sorted(orjson.loads(candidate.operations))
        and (orjson.loads(row.constraints) if row.constraints else None)
        == (orjson.loads(candidate.constraints) if candidate.constraints else None)
    )


def create_grant(env: Env, call: Call, req: Request) -> Response:
    key = _grant_key(env, call, req, "CreateGrant")
    arn = env.keyring.arn(key.key_id)
    check_state("CreateGrant", key.state, arn)
    if ("GranteePrincipal" in req) == ("GranteeServicePrincipal" in req):
        raise errors.GRANTEE_REQUIRED()
    if "RetiringPrincipal" in req and "RetiringServicePrincipal" in req:
        raise errors.RETIRING_PRINCIPAL_ONE()
    operations: list[str] = list(dict.fromkeys(req["Operations"]))
    _check_operations(key, operations)
    constraints = req.get("Constraints") or None
    _check_constraints(key, constraints)
    _check_delegation(env, call, key, req)
    check_dry_run(req)
    candidate = GrantRow(
        grant_id=secrets.token_hex(32),
        key_id=key.key_id,
        account_id=key.account_id,
        created_at=env.clock.now(),
        grantee_principal=req.get("GranteePrincipal") or req["GranteeServicePrincipal"],
        operations=orjson.dumps(operations).decode(),
        constraints=orjson.dumps(constraints).decode() if constraints else "",
        retiring_principal=req.get("RetiringPrincipal"),
        name=req.get("Name"),
        grantee_service_principal=req.get("GranteeServicePrincipal"),
        retiring_service_principal=req.get("RetiringServicePrincipal"),
    )
    with env.write():
        env.keyring.resolve(arn, aliases=False, fresh=True, foreign=True)  # still there
        row = _existing(env, key, candidate)
        if row is None:
            if env.store.count_grants(key.key_id) >= MAX_GRANTS_PER_KEY:
                raise errors.GRANT_LIMIT(limit=MAX_GRANTS_PER_KEY, arn=arn)
            env.store.insert_grant(candidate)
            row = candidate
    return {"GrantToken": seal_token(env, row, arn), "GrantId": row.grant_id}


def _existing(env: Env, key: KeyRow, candidate: GrantRow) -> GrantRow | None:
    """A live grant with ``candidate``'s name and parameters (API-ref CreateGrant ``Name``)."""
    if candidate.name is None:
        return None
    for row in env.store.key_grants(key.key_id):
        if row.retired_at is None and row.name == candidate.name and _same(row, candidate):
            return row
    return None


# --- ListGrants, ListRetirableGrants --------------------------------------------------------------
def _entry(env: Env, row: GrantRow) -> dict[str, Any]:
    """A ``GrantListEntry`` [API-ref GrantListEntry]."""
    entry: dict[str, Any] = {
        "KeyId": f"arn:aws:kms:{env.region}:{row.account_id}:key/{row.key_id}",
        "GrantId": row.grant_id,
        "CreationDate": row.created_at,
        "IssuingAccount": f"arn:aws:iam::{row.account_id}:root",
        "Operations": orjson.loads(row.operations),
    }
    if row.name is not None:
        entry["Name"] = row.name
    if row.grantee_service_principal is not None:
        entry["GranteeServicePrincipal"] = row.grantee_service_principal
    entry["GranteePrincipal"] = row.grantee_principal
    if row.retiring_principal is not None:
        entry["RetiringPrincipal"] = row.retiring_principal
    if row.retiring_service_principal is not None:
        entry["RetiringServicePrincipal"] = row.retiring_service_principal
    if row.constraints:
        entry["Constraints"] = orjson.loads(row.constraints)
    return entry


def list_grants(env: Env, call: Call, req: Request) -> Response:
    key = _grant_key(env, call, req, "ListGrants")
    grantee = req.get("GranteePrincipal") or req.get("GranteeServicePrincipal")
    rows, more = page(
        req,
        lambda after, limit: env.store.list_grants(
            key.key_id, after, limit, req.get("GrantId"), grantee
        ),
        lambda row: str(row.seq),
        default_limit=50,
    )
    return {"Grants": [_entry(env, r) for r in rows], **more}


def list_retirable_grants(env: Env, call: Call, req: Request) -> Response:
    env.authorize(call, "ListRetirableGrants")
    retiring = req.get("RetiringPrincipal") or req.get("RetiringServicePrincipal")
    if retiring is None:
        raise errors.RETIRING_PRINCIPAL_REQUIRED()
    assert call.principal is not None
    account = retiring.split(":")[4] if retiring.startswith("arn:") else retiring
    if "RetiringPrincipal" in req and account != call.principal.account_id:
        # "You must specify a principal in your Amazon Web Services account."
        raise errors.ACCESS_DENIED(
            principal=call.principal.arn,
            action="kms:ListRetirableGrants",
            resource=retiring,
            detail="the retiring principal is of another account",
        )
    rows, more = page(
        req,
        lambda after, limit: env.store.list_retirable_grants(retiring, after, limit),
        lambda row: str(row.seq),
        default_limit=50,
    )
    return {"Grants": [_entry(env, r) for r in rows], **more}


# --- RetireGrant, RevokeGrant ---------------------------------------------------------------------
def _live(env: Env, key: KeyRow, grant_id: str) -> GrantRow:
    for row in env.store.key_grants(key.key_id):
        if row.grant_id == grant_id and row.retired_at is None:
            return row
    raise errors.INVALID_GRANT_ID(grant_id=grant_id, arn=env.keyring.arn(key.key_id))


def _may_retire(call: Call, row: GrantRow) -> bool:
    """The retiring principal, or the grantee of a grant that lists RetireGrant."""
    principal = call.principal
    assert principal is not None
    role = principal.session.role_arn if principal.session is not None else None
    if row.retiring_principal is not None and grantee_matches(
        row.retiring_principal, principal.arn, role
    ):
        return True
    return "RetireGrant" in orjson.loads(row.operations) and grantee_matches(
        row.grantee_principal, principal.arn, role
    )


def retire_grant(env: Env, call: Call, req: Request) -> Response:
    if "GrantToken" in req:
        carried = open_token(env, req["GrantToken"])
        key = env.keyring.resolve(carried.key_arn, aliases=False, foreign=True)
        grant_id = carried.grant.grant_id
        if "GrantId" in req and req["GrantId"] != grant_id:
            raise errors.INVALID_GRANT_ID(grant_id=req["GrantId"], arn=carried.key_arn)
    elif "KeyId" in req and "GrantId" in req:
        key = env.keyring.resolve(req["KeyId"], aliases=False, foreign=True)
        grant_id = req["GrantId"]
    else:
        raise errors.RETIRE_NEEDS_GRANT()
    call.resources.append(env.keyring.arn(key.key_id))
    row = _live(env, key, grant_id)
    if not _may_retire(call, row):
        env.authorize(call, "RetireGrant", key)  # the account, by key policy or IAM
    check_dry_run(req)
    _end(env, key, grant_id)
    return {}


def revoke_grant(env: Env, call: Call, req: Request) -> Response:
    key = _grant_key(env, call, req, "RevokeGrant")
    _live(env, key, req["GrantId"])
    check_dry_run(req)
    _end(env, key, req["GrantId"])
    return {}


def _end(env: Env, key: KeyRow, grant_id: str) -> None:
    with env.write():
        if not env.store.retire_grant(grant_id, env.clock.now()):
            raise errors.INVALID_GRANT_ID(grant_id=grant_id, arn=env.keyring.arn(key.key_id))


HANDLERS = {
    "CreateGrant": create_grant,
    "ListGrants": list_grants,
    "ListRetirableGrants": list_retirable_grants,
    "RetireGrant": retire_grant,
    "RevokeGrant": revoke_grant,
}
