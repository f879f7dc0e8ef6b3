"""The STS operations GetCallerIdentity and AssumeRole (STS API Reference), over ``Directory``.

AssumeRole: root credentials are refused ("Roles may not be assumed by root accounts."); the
role's trust policy must allow the caller (``Principal`` naming the caller's ARN, its role's
ARN for a session, its account id or root ARN, or ``*``; conditions such as ``sts:ExternalId``)
and, unless the trust policy names the caller itself in the role's own account, the caller's
identity policies must allow ``sts:AssumeRole`` on the role (IAM User Guide, "Cross account
resource access"). A missing role answers as a refused one. ``DurationSeconds`` runs from 900 to
the role's ``MaxSessionDuration`` (one hour at most when a session assumes a role: role
chaining). The credentials answer with an ``ASIA`` access key id; the secret is stored sealed,
the session token as its SHA-256 only.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from trent.authz import Principal
from trent.bootstrap import random_id, random_secret
from trent.identity.credentials import SESSION_PURPOSE, token_digest
from trent.identity.directory import Directory, Handler, checked, identity_decision
from trent.identity.errors import AccessDenied, ValidationError, not_authorized
from trent.operations import Call
from trent.policy import Decision, Policy, PolicyKind, RequestContext, decide
from trent.store.records import SessionRow

Request = dict[str, Any]
Response = dict[str, Any]
MIN_DURATION = 900
DEFAULT_DURATION = 3600
CHAINED_MAX = 3600
ACTION = "sts:AssumeRole"


def get_caller_identity(d: Directory, call: Call, req: Request) -> Response:
    p = call.principal
    assert p is not None
    return {"UserId": p.principal_id, "Account": p.account_id, "Arn": p.arn}


def _role_name(role_arn: str) -> tuple[str, str] | None:
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "iam"] or not parts[5].startswith("role/"):
        return None
    return parts[4], parts[5].rsplit("/", 1)[-1]


def _identities(p: Principal) -> list[str]:
    """What a trust policy's ``Principal`` may name to mean this caller."""
    named = [p.arn]
    if p.session is not None:
        named.append(p.session.role_arn)
    return named


def assume_role(d: Directory, call: Call, req: Request) -> Response:
    caller = call.principal
    assert caller is not None
    role_arn = req["RoleArn"]
    if caller.is_root:
        raise AccessDenied("Roles may not be assumed by root accounts.")
    denied = not_authorized(caller.arn, ACTION, role_arn)
    parts = _role_name(role_arn)
    role = d.store.get_role(*parts) if parts else None
    if role is None or parts is None:
        raise denied
    account = parts[0]
    keys: dict[str, list[str]] = {"aws:principalarn": [caller.arn]}
    if "ExternalId" in req:
        keys["sts:externalid"] = [req["ExternalId"]]
    trust = Policy.parse(json.loads(role.trust_policy))
    specific = RequestContext(ACTION, role_arn, _identities(caller), keys)
    by_account = RequestContext(
        ACTION, role_arn, [caller.account_id, f"arn:aws:iam::{caller.account_id}:root"], keys
    )
    names_caller = decide([trust], specific)
    names_account = decide([trust], by_account)
    if Decision.EXPLICIT_DENY in (names_caller, names_account):
        raise denied
    if names_caller is not Decision.ALLOW and names_account is not Decision.ALLOW:
        raise denied
    same_account_named = names_caller is Decision.ALLOW and caller.account_id == account
    if not same_account_named:
        ctx = RequestContext(ACTION, role_arn, keys=keys)
        if identity_decision(d.store, caller, ctx) is not Decision.ALLOW:
            raise denied
    chained = caller.session is not None
    duration = int(req.get("DurationSeconds", DEFAULT_DURATION))
    if chained and duration > CHAINED_MAX:
        raise ValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
            "by role chaining."
        )
    if duration > role.max_session_duration:
        raise ValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    if duration < MIN_DURATION:  # the model's min, kept should a client skip it
        raise ValidationError(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
            "satisfy constraint: Member must have value greater than or equal to 900"
        )
    policy = checked(req["Policy"], PolicyKind.IDENTITY) if "Policy" in req else ""
    policy_arns = [p["arn"] for p in req.get("PolicyArns", [])]
    tags = [(t["Key"], t["Value"]) for t in req.get("Tags", [])]
    now = d.clock.now()
    access_key_id = random_id("ASIA")
    secret = random_secret()
    token = "IQoJb3JpZ2luX2Vj" + base64.b64encode(secrets.token_bytes(96)).decode()
    session_name = req["RoleSessionName"]
    row = SessionRow(
        access_key_id=access_key_id,
        sealed_secret=d.barrier.seal(SESSION_PURPOSE, access_key_id, secret.encode()),
        token_sha256=token_digest(token),
        account_id=account,
        role_name=role.role_name,
        session_name=session_name,
        created_at=now,
        expires_at=now + duration,
        policy=policy,
        policy_arns=json.dumps(policy_arns),
        tags=json.dumps(tags),
        source_arn=caller.arn,
        chained=chained,
    )
    with d.store.write():
        d.store.insert_session(row)
    return {
        "Credentials": {
            "AccessKeyId": access_key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": now + duration,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"{role.role_id}:{session_name}",
            "Arn": f"arn:aws:sts::{account}:assumed-role/{role.role_name}/{session_name}",
        },
        "PackedPolicySize": 0 if not policy and not tags else 6,
    }


HANDLERS: dict[str, Handler] = {
    "GetCallerIdentity": get_caller_identity,
    "AssumeRole": assume_role,
}
