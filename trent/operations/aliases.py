"""Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases."""

from __future__ import annotations

from trent.errors import KMSError
from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Request, Response
from trent.operations.paging import page
from trent.operations.states import check_state
from trent.store import AliasRow, KeyRow

RESERVED_PREFIX = "alias/aws/"
MAX_ALIASES_PER_KEY = 50
MAX_LIST_LIMIT = 100


def _check_name(name: str) -> None:
    if not name.startswith("alias/") or name == "alias/":
        raise errors.ALIAS_PREFIX()
    if ":" in name:
        raise errors.ALIAS_CHARACTERS(name=name)
    if name.startswith(RESERVED_PREFIX):
        raise errors.ALIAS_RESERVED()


def _check_alias_quota(env: Env, key_id: str) -> None:
    count = len(env.store.list_aliases(key_id, None, MAX_ALIASES_PER_KEY + 1))
    if count >= MAX_ALIASES_PER_KEY:
        raise errors.ALIAS_QUOTA(limit=MAX_ALIASES_PER_KEY, count=count)


def _target(env: Env, call: Call, req: Request, operation: str) -> KeyRow:
    key = env.keyring.resolve(req["TargetKeyId"], aliases=False)
    env.authorize(call, operation, key)
    check_state(operation, key.state, env.keyring.arn(key.key_id))
    return key


def _missing(env: Env, name: str) -> KMSError:
    return errors.ALIAS_NOT_FOUND(alias_arn=env.keyring.alias_arn(name))


def create_alias(env: Env, call: Call, req: Request) -> Response:
    name = req["AliasName"]
    _check_name(name)
    key = _target(env, call, req, "CreateAlias")
    now = env.clock.now()
    with env.write():
        if env.store.get_alias(name) is not None:
            raise errors.ALIAS_EXISTS(alias_arn=env.keyring.alias_arn(name))
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state("CreateAlias", key.state, env.keyring.arn(key.key_id))
        _check_alias_quota(env, key.key_id)
        env.store.insert_alias(AliasRow(name, key.key_id, now, now))
    return {}


def update_alias(env: Env, call: Call, req: Request) -> Response:
    name = req["AliasName"]
    _check_name(name)
    key = _target(env, call, req, "UpdateAlias")
    with env.write():
        alias = env.store.get_alias(name)
        if alias is None:
            raise _missing(env, name)
        current = env.keyring.resolve(alias.key_id, fresh=True)
        if (current.key_spec, current.key_usage) != (key.key_spec, key.key_usage):
            raise errors.ALIAS_TARGET_MISMATCH()
        if alias.key_id != key.key_id:
            _check_alias_quota(env, key.key_id)
        alias.key_id = key.key_id
        alias.updated_at = env.clock.now()
        env.store.update_alias(alias)
    return {}


def delete_alias(env: Env, call: Call, req: Request) -> Response:
    name = req["AliasName"]
    _check_name(name)
    with env.write():
        alias = env.store.get_alias(name)
        if alias is None:
            raise _missing(env, name)
        key = env.keyring.resolve(alias.key_id, fresh=True)
        env.authorize(call, "DeleteAlias", key)
        env.store.delete_alias(name)
    return {}


def list_aliases(env: Env, call: Call, req: Request) -> Response:
    if req.get("Limit", 1) > MAX_LIST_LIMIT:
        raise errors.LIST_LIMIT(limit=MAX_LIST_LIMIT)
    key_id = None
    if "KeyId" in req:
        key = env.keyring.resolve(req["KeyId"], aliases=False)
        env.authorize(call, "ListAliases", key)
        key_id = key.key_id
    else:
        env.authorize(call, "ListAliases")
    rows, more = page(
        req, lambda after, n: env.store.list_aliases(key_id, after, n), lambda a: a.name, 50
    )
    entries = [
        {
            "AliasName": a.name,
            "AliasArn": env.keyring.alias_arn(a.name),
            "TargetKeyId": a.key_id,
            "CreationDate": a.created_at,
            "LastUpdatedDate": a.updated_at,
        }
        for a in rows
    ]
    return {"Aliases": entries, **more}


HANDLERS = {
    "CreateAlias": create_alias,
    "UpdateAlias": update_alias,
    "DeleteAlias": delete_alias,
    "ListAliases": list_aliases,
}
