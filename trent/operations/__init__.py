"""The KMS operations, one module per family. No HTTP in here.

Each handler is ``handler(env, call, request) -> response`` over plain dicts whose members
are named as in the AWS KMS API (blobs as ``bytes``, timestamps as epoch seconds). Every handler
calls ``env.authorize`` before it acts. ``OPERATIONS`` is the one table the protocol layer
dispatches through; an operation of the service model missing from it is not implemented yet.
"""

from __future__ import annotations

from trent.operations import (
    agreement,
    aliases,
    datakeypairs,
    datakeys,
    encrypt,
    grants,
    imports,
    keys,
    keystores,
    mac,
    policies,
    rotation,
    sign,
    tags,
    usage,
)
from trent.operations.context import Call, Env, Handler

OPERATIONS: dict[str, Handler] = {
    **keys.HANDLERS,
    **encrypt.HANDLERS,
    **datakeys.HANDLERS,
    **rotation.HANDLERS,
    **aliases.HANDLERS,
    **tags.HANDLERS,
    **policies.HANDLERS,
    **usage.HANDLERS,
    **imports.HANDLERS,
    **sign.HANDLERS,
    **mac.HANDLERS,
    **agreement.HANDLERS,
    **datakeypairs.HANDLERS,
    **grants.HANDLERS,
    **keystores.HANDLERS,
}

__all__ = ["OPERATIONS", "Call", "Env", "Handler"]
