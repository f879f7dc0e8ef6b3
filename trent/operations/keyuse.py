"""Checks shared by every cryptographic operation: the key's usage, spec and algorithm."""

from __future__ import annotations

from trent.crypto.keyspecs import SPECS
from trent.errors import catalogue as errors
from trent.operations.context import Call, Env
from trent.operations.keystores import key_state
from trent.operations.states import check_state
from trent.store import KeyRow


def key_for(env: Env, call: Call, key_ref: str, operation: str, usage: str) -> KeyRow:
    """Resolve, authorize and check a key for ``operation``, which needs ``usage``."""
    key = env.keyring.resolve(key_ref)
    env.authorize(call, operation, key)
    arn = env.keyring.arn(key.key_id)
    if key.key_usage != usage:
        raise errors.WRONG_KEY_USAGE(arn=arn, usage=key.key_usage, operation=operation)
    check_state(operation, key_state(env, key), arn)
    return key


def check_algorithm(env: Env, key: KeyRow, algorithm: str, operation: str) -> None:
    """Refuse an algorithm the key's spec does not offer for its usage: AWS's
    ``InvalidKeyUsageException`` "Algorithm <a> is incompatible with key spec <s>." [LS-snap]."""
    offered = SPECS[key.key_spec].algorithms.get(key.key_usage, ())
    if algorithm not in offered:
        raise errors.INCOMPATIBLE_ALGORITHM(
            algorithm=algorithm,
            spec=key.key_spec,
            detail=f"{env.keyring.arn(key.key_id)} {operation}: valid {', '.join(offered)}",
        )
