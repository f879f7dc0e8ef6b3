"""The IAM API operations (IAM API Reference), over ``Directory``; no HTTP.

Each handler takes the parsed request (members named as botocore's ``iam`` model, timestamps
as epoch seconds) and returns the output members. Everything acts in the caller's account.
Names of users, roles and policies are unique ignoring case; a user has at most two access
keys; deleting a user or role that still has access keys or policies is ``DeleteConflict``.
Policy documents are checked with ``trent.policy.grammar`` and returned URL-encoded, as IAM
returns them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from trent.authz import Principal
from trent.bootstrap import create_access_key, random_id
from trent.identity.directory import Directory, Handler, checked, policy_arn_parts
from trent.identity.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
)
from trent.operations import Call
from trent.policy import PolicyKind
from trent.store.records import ManagedPolicyRow, RoleRow, UserRow

Request = dict[str, Any]
Response = dict[str, Any]
MAX_ACCESS_KEYS = 2  # IAM quotas: access keys per user
MAX_TAGS = 50  # IAM quotas: tags per user or role
DEFAULT_MAX_SESSION = 3600


def _caller(call: Call) -> Principal:
    assert call.principal is not None
    return call.principal


def _account(call: Call) -> str:
    return _caller(call).account_id


def user_arn(account: str, user: UserRow) -> str:
    return f"arn:aws:iam::{account}:user{user.path}{user.user_name}"


def role_arn(account: str, role: RoleRow) -> str:
    return f"arn:aws:iam::{account}:role{role.path}{role.role_name}"


def managed_arn(row: ManagedPolicyRow) -> str:
    return f"arn:aws:iam::{row.account_id}:policy{row.path}{row.policy_name}"


def resource_of(account: str, req: Request) -> str:
    """The ARN an IAM request acts on (for authorization and the audit trail)."""
    if "PolicyArn" in req:
        return str(req["PolicyArn"])
    if "RoleName" in req:
        return f"arn:aws:iam::{account}:role/{req['RoleName']}"
    if "UserName" in req:
        return f"arn:aws:iam::{account}:user/{req['UserName']}"
    if "PolicyName" in req:
        return f"arn:aws:iam::{account}:policy/{req['PolicyName']}"
    return "*"


def _tags(d: Directory, account: str, kind: str, owner: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in d.store.identity_tags(account, kind, owner)]


def _user_out(d: Directory, account: str, user: UserRow, tags: bool = False) -> Response:
    out: Response = {
        "Path": user.path,
        "UserName": user.user_name,
        "UserId": user.user_id,
        "Arn": user_arn(account, user),
        "CreateDate": user.created_at,
    }
    if tags:
        out["Tags"] = _tags(d, account, "user", user.user_name) or None
    return out


def _role_out(d: Directory, account: str, role: RoleRow, tags: bool = False) -> Response:
    out: Response = {
        "Path": role.path,
        "RoleName": role.role_name,
        "RoleId": role.role_id,
        "Arn": role_arn(account, role),
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": quote(role.trust_policy),
        "MaxSessionDuration": role.max_session_duration,
    }
    if role.description:
        out["Description"] = role.description
    if tags:
        out["Tags"] = _tags(d, account, "role", role.role_name) or None
    return out


def _policy_out(d: Directory, row: ManagedPolicyRow) -> Response:
    arn = managed_arn(row)
    out: Response = {
        "PolicyName": row.policy_name,
        "PolicyId": row.policy_id,
        "Arn": arn,
        "Path": row.path,
        "DefaultVersionId": "v1",
        "AttachmentCount": d.store.attachment_count(arn),
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "CreateDate": row.created_at,
        "UpdateDate": row.created_at,
    }
    if row.description:
        out["Description"] = row.description
    return out


def _page(req: Request, items: list[Any], member: str) -> Response:
    start = int(req["Marker"]) if str(req.get("Marker", "")).isdigit() else 0
    limit = int(req.get("MaxItems", 100))
    chunk = items[start : start + limit]
    out: Response = {member: chunk, "IsTruncated": start + limit < len(items)}
    if out["IsTruncated"]:
        out["Marker"] = str(start + limit)
    return out


# --- lookups ------------------------------------------------------------------------------------
def _user(d: Directory, account: str, name: str) -> UserRow:
    user = d.store.get_user(account, name)
    if user is None:
        raise NoSuchEntity(f"The user with name {name} cannot be found.")
    return user


def _role(d: Directory, account: str, name: str) -> RoleRow:
    role = d.store.get_role(account, name)
    if role is None:
        raise NoSuchEntity(f"The role with name {name} cannot be found.")
    return role


def _managed(d: Directory, account: str, arn: str) -> ManagedPolicyRow:
    parts = policy_arn_parts(arn)
    row = d.store.get_policy(*parts) if parts and parts[0] == account else None
    if row is None or managed_arn(row) != arn:
        raise NoSuchEntity(f"Policy {arn} was not found.")
    return row


def _owner(d: Directory, account: str, kind: str, name: str) -> str:
    """The stored name of the user or role ``name`` (NoSuchEntity when there is none)."""
    return (
        _user(d, account, name).user_name if kind == "user" else _role(d, account, name).role_name
    )


# --- users --------------------------------------------------------------------------------------
def create_user(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    name = req["UserName"]
    with d.store.write():
        if d.store.get_user(account, name) is not None:
            raise EntityAlreadyExists(f"User with name {name} already exists.")
        user = UserRow(account, name, random_id("AIDA"), req.get("Path", "/"), d.clock.now())
        d.store.insert_user(user)
        _put_tags(d, account, "user", name, req.get("Tags", []))
    return {"User": _user_out(d, account, user, tags=True)}


def get_user(d: Directory, call: Call, req: Request) -> Response:
    caller = _caller(call)
    name = req.get("UserName") or caller.name
    if name is None:  # root asking about itself
        return {
            "User": {
                "Path": "/",
                "UserName": "",
                "UserId": caller.account_id,
                "Arn": caller.arn,
                "CreateDate": 0.0,
            }
        }
    return {"User": _user_out(d, caller.account_id, _user(d, caller.account_id, name), tags=True)}


def list_users(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    users = d.store.list_users(account, req.get("PathPrefix", "/"))
    return _page(req, [_user_out(d, account, u) for u in users], "Users")


def delete_user(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    with d.store.write():
        user = _user(d, account, req["UserName"])
        if d.store.user_access_keys(account, user.user_name):
            raise DeleteConflict("Cannot delete entity, must delete access keys first.")
        if d.store.list_inline_policies(account, "user", user.user_name):
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        if d.store.attached_policies(account, "user", user.user_name):
            raise DeleteConflict("Cannot delete entity, must detach all policies first.")
        d.store.delete_user(account, user.user_name)
    return {}


# --- access keys --------------------------------------------------------------------------------
def _key_owner(d: Directory, call: Call, req: Request) -> str | None:
    """The user whose keys a request names (``None``: the calling root's own)."""
    caller = _caller(call)
    if "UserName" in req:
        return _user(d, caller.account_id, req["UserName"]).user_name
    return caller.name


def create_access_key_op(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    with d.store.write():
        owner = _key_owner(d, call, req)
        if len(d.store.user_access_keys(account, owner)) >= MAX_ACCESS_KEYS:
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}")
        path = "/"
        if owner is not None:
            path = _user(d, account, owner).path
        key = create_access_key(d.store, d.barrier, account, owner, d.clock, path=path)
    out: Response = {
        "AccessKeyId": key.access_key_id,
        "Status": "Active",
        "SecretAccessKey": key.secret_access_key,
        "CreateDate": d.clock.now(),
    }
    if owner is not None:
        out["UserName"] = owner
    return {"AccessKey": out}


def list_access_keys(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    owner = _key_owner(d, call, req)
    rows = d.store.user_access_keys(account, owner)
    items = [
        {
            "UserName": owner,
            "AccessKeyId": r.access_key_id,
            "Status": r.status,
            "CreateDate": r.created_at,
        }
        for r in rows
    ]
    return _page(req, items, "AccessKeyMetadata")


def _own_key(d: Directory, call: Call, req: Request) -> str:
    account = _account(call)
    owner = _key_owner(d, call, req)
    key_id = req["AccessKeyId"]
    if not any(r.access_key_id == key_id for r in d.store.user_access_keys(account, owner)):
        raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")
    return str(key_id)


def update_access_key(d: Directory, call: Call, req: Request) -> Response:
    with d.store.write():
        d.store.set_access_key_status(_own_key(d, call, req), req["Status"])
    return {}


def delete_access_key(d: Directory, call: Call, req: Request) -> Response:
    with d.store.write():
        d.store.delete_access_key(_own_key(d, call, req))
    return {}


def get_access_key_last_used(d: Directory, call: Call, req: Request) -> Response:
    key_id = req["AccessKeyId"]
    row = d.store.get_access_key(key_id)
    if row is None or row.account_id != _account(call):
        raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")
    # IAM API Reference, AccessKeyLastUsed: "N/A" for a key never used; recorded uses are
    # flushed from each worker every 2 s (``trent.operations.usage.UsageTracker``).
    used = d.store.get_access_key_usage(key_id)
    last: dict[str, Any] = {"ServiceName": "N/A", "Region": "N/A"}
    if used is not None:
        last = {"LastUsedDate": used[0], "ServiceName": used[1], "Region": used[2]}
    out: Response = {"AccessKeyLastUsed": last}
    if row.user_name is not None:
        out["UserName"] = row.user_name
    return out


# --- inline policies ----------------------------------------------------------------------------
def _inline(kind: str) -> dict[str, Handler]:
    title = "User" if kind == "user" else "Role"
    owner_member = f"{title}Name"
    missing = f"The {kind} policy with name {{name}} cannot be found."

    def put(d: Directory, call: Call, req: Request) -> Response:
        account = _account(call)
        document = checked(req["PolicyDocument"], PolicyKind.IDENTITY)
        with d.store.write():
            owner = _owner(d, account, kind, req[owner_member])
            d.store.put_inline_policy(account, kind, owner, req["PolicyName"], document)
        return {}

    def get(d: Directory, call: Call, req: Request) -> Response:
        account = _account(call)
        owner = _owner(d, account, kind, req[owner_member])
        found = d.store.get_inline_policy(account, kind, owner, req["PolicyName"])
        if found is None:
            raise NoSuchEntity(missing.format(name=req["PolicyName"]))
        return {owner_member: owner, "PolicyName": found[0], "PolicyDocument": quote(found[1])}

    def listed(d: Directory, call: Call, req: Request) -> Response:
        account = _account(call)
        owner = _owner(d, account, kind, req[owner_member])
        names = [n for n, _ in d.store.list_inline_policies(account, kind, owner)]
        return _page(req, names, "PolicyNames")

    def delete(d: Directory, call: Call, req: Request) -> Response:
        account = _account(call)
        with d.store.write():
            owner = _owner(d, account, kind, req[owner_member])
            if not d.store.delete_inline_policy(account, kind, owner, req["PolicyName"]):
                raise NoSuchEntity(missing.format(name=req["PolicyName"]))
        return {}

    return {
        f"Put{title}Policy": put,
        f"Get{title}Policy": get,
        f"List{title}Policies": listed,
        f"Delete{title}Policy": delete,
    }


# --- managed policies ---------------------------------------------------------------------------
def create_policy(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    document = checked(req["PolicyDocument"], PolicyKind.IDENTITY)
    name = req["PolicyName"]
    with d.store.write():
        if d.store.get_policy(account, name) is not None:
            raise EntityAlreadyExists(
                f"A policy called {name} already exists. Duplicate names are not allowed."
            )
        row = ManagedPolicyRow(
            account,
            name,
            random_id("ANPA"),
            req.get("Path", "/"),
            document,
            req.get("Description", ""),
            d.clock.now(),
        )
        d.store.insert_policy(row)
    return {"Policy": _policy_out(d, row)}


def get_policy(d: Directory, call: Call, req: Request) -> Response:
    return {"Policy": _policy_out(d, _managed(d, _account(call), req["PolicyArn"]))}


def get_policy_version(d: Directory, call: Call, req: Request) -> Response:
    row = _managed(d, _account(call), req["PolicyArn"])
    if req["VersionId"] != "v1":
        raise NoSuchEntity(
            f"Policy {req['PolicyArn']} version {req['VersionId']} does not exist or is not "
            "attachable."
        )
    return {
        "PolicyVersion": {
            "Document": quote(row.document),
            "VersionId": "v1",
            "IsDefaultVersion": True,
            "CreateDate": row.created_at,
        }
    }


def list_policies(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    rows = (
        []
        if req.get("Scope") == "AWS"
        else d.store.list_policies(account, req.get("PathPrefix", "/"))
    )
    items = [_policy_out(d, r) for r in rows]
    if req.get("OnlyAttached"):
        items = [p for p in items if p["AttachmentCount"]]
    return _page(req, items, "Policies")


def delete_policy(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    with d.store.write():
        row = _managed(d, account, req["PolicyArn"])
        if d.store.attachment_count(managed_arn(row)):
            raise DeleteConflict("Cannot delete a policy attached to entities.")
        d.store.delete_policy(account, row.policy_name)
    return {}


def _attachments(kind: str) -> dict[str, Handler]:
    title = "User" if kind == "user" else "Role"
    owner_member = f"{title}Name"

    def attach(d: Directory, call: Call, req: Request) -> Response:
        account = _account(call)
        with d.store.write():
            owner = _owner(d, account, kind, req[owner_member])
            row = _managed(d, account, req["PolicyArn"])
            d.store.attach_policy(account, kind, owner, managed_arn(row))
        return {}

    def detach(d: Directory, call: Call, req: Request) -> Response:
        account = _account(call)
        with d.store.write():
            owner = _owner(d, account, kind, req[owner_member])
            if not d.store.detach_policy(account, kind, owner, req["PolicyArn"]):
                raise NoSuchEntity(f"Policy {req['PolicyArn']} was not attached.")
        return {}

    def listed(d: Directory, call: Call, req: Request) -> Response:
        account = _account(call)
        owner = _owner(d, account, kind, req[owner_member])
        items = []
        for arn in d.store.attached_policies(account, kind, owner):
            parts = policy_arn_parts(arn)
            items.append({"PolicyName": parts[1] if parts else arn, "PolicyArn": arn})
        return _page(req, items, "AttachedPolicies")

    return {
        f"Attach{title}Policy": attach,
        f"Detach{title}Policy": detach,
        f"ListAttached{title}Policies": listed,
    }


# --- roles --------------------------------------------------------------------------------------
def create_role(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    document = checked(req["AssumeRolePolicyDocument"], PolicyKind.TRUST, d.store)
    name = req["RoleName"]
    with d.store.write():
        if d.store.get_role(account, name) is not None:
            raise EntityAlreadyExists(f"Role with name {name} already exists.")
        role = RoleRow(
            account,
            name,
            random_id("AROA"),
            req.get("Path", "/"),
            d.clock.now(),
            document,
            int(req.get("MaxSessionDuration", DEFAULT_MAX_SESSION)),
            req.get("Description", ""),
        )
        d.store.insert_role(role)
        _put_tags(d, account, "role", name, req.get("Tags", []))
    return {"Role": _role_out(d, account, role, tags=True)}


def get_role(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    return {"Role": _role_out(d, account, _role(d, account, req["RoleName"]), tags=True)}


def list_roles(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    roles = d.store.list_roles(account, req.get("PathPrefix", "/"))
    return _page(req, [_role_out(d, account, r) for r in roles], "Roles")


def delete_role(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    with d.store.write():
        role = _role(d, account, req["RoleName"])
        if d.store.list_inline_policies(account, "role", role.role_name):
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        if d.store.attached_policies(account, "role", role.role_name):
            raise DeleteConflict("Cannot delete entity, must detach all policies first.")
        d.store.delete_role(account, role.role_name)
    return {}


def update_assume_role_policy(d: Directory, call: Call, req: Request) -> Response:
    account = _account(call)
    document = checked(req["PolicyDocument"], PolicyKind.TRUST, d.store)
    with d.store.write():
        role = _role(d, account, req["RoleName"])
        d.store.set_role_trust(account, role.role_name, document)
    return {}


# --- tags ---------------------------------------------------------------------------------------
def _put_tags(d: Directory, account: str, kind: str, owner: str, tags: list[Any]) -> None:
    existing = {k for k, _ in d.store.identity_tags(account, kind, owner)}
    if len(existing | {t["Key"] for t in tags}) > MAX_TAGS:
        title = "User" if kind == "user" else "Role"
        raise LimitExceeded(f"Cannot exceed quota for TagsPer{title}: {MAX_TAGS}")
    for tag in tags:
        d.store.put_identity_tag(account, kind, owner, tag["Key"], tag.get("Value", ""))


def _tagging(kind: str) -> dict[str, Handler]:
    title = "User" if kind == "user" else "Role"
    owner_member = f"{title}Name"

    def tag(d: Directory, call: Call, req: Request) -> Response:
        account = _account(call)
        with d.store.write():
            owner = _owner(d, account, kind, req[owner_member])
            _put_tags(d, account, kind, owner, req["Tags"])
        return {}

    def untag(d: Directory, call: Call, req: Request) -> Response:
        account = _account(call)
        with d.store.write():
            owner = _owner(d, account, kind, req[owner_member])
            for key in req["TagKeys"]:
                d.store.delete_identity_tag(account, kind, owner, key)
        return {}

    def listed(d: Directory, call: Call, req: Request) -> Response:
        account = _account(call)
        owner = _owner(d, account, kind, req[owner_member])
        return _page(req, _tags(d, account, kind, owner), "Tags")

    return {f"Tag{title}": tag, f"Untag{title}": untag, f"List{title}Tags": listed}


HANDLERS: dict[str, Handler] = {
    "CreateUser": create_user,
    "GetUser": get_user,
    "ListUsers": list_users,
    "DeleteUser": delete_user,
    "CreateAccessKey": create_access_key_op,
    "ListAccessKeys": list_access_keys,
    "UpdateAccessKey": update_access_key,
    "DeleteAccessKey": delete_access_key,
    "GetAccessKeyLastUsed": get_access_key_last_used,
    **_inline("user"),
    **_inline("role"),
    "CreateRole": create_role,
    "GetRole": get_role,
    "ListRoles": list_roles,
    "DeleteRole": delete_role,
    "UpdateAssumeRolePolicy": update_assume_role_policy,
    "CreatePolicy": create_policy,
    "GetPolicy": get_policy,
    "GetPolicyVersion": get_policy_version,
    "ListPolicies": list_policies,
    "DeletePolicy": delete_policy,
    **_attachments("user"),
    **_attachments("role"),
    **_tagging("user"),
    **_tagging("role"),
}
