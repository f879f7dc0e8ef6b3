"""Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. Stored as given (checked by
``keys.check_policy`` and the lockout safety check), evaluated on every request naming the key
(``Env.authorize``)."""

from __future__ import annotations

from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Request, Response
from trent.operations.keys import check_lockout, check_policy
from trent.operations.states import check_state

POLICY_NAME = "default"


def _check_name(req: Request) -> None:
    name = req.get("PolicyName", POLICY_NAME)
    if name != POLICY_NAME:
        raise errors.NO_SUCH_POLICY(name=name)


def get_key_policy(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, "GetKeyPolicy", key)
    _check_name(req)
    return {"Policy": key.policy, "PolicyName": POLICY_NAME}


def put_key_policy(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, "PutKeyPolicy", key)
    if req.get("PolicyName") == "AWS_RAM":
        raise errors.RAM_POLICY()
    _check_name(req)
    policy = check_policy(req["Policy"], env.store)
    check_lockout(env, call, policy, key, req)
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state("PutKeyPolicy", key.state, env.keyring.arn(key.key_id))
        key.policy = policy
        env.store.update_key(key)
    return {}


def list_key_policies(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, "ListKeyPolicies", key)
    return {"PolicyNames": [POLICY_NAME], "Truncated": False}


HANDLERS = {
    "GetKeyPolicy": get_key_policy,
    "PutKeyPolicy": put_key_policy,
    "ListKeyPolicies": list_key_policies,
}
