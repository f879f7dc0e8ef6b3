"""Key states, key material states, and which operations each key state allows.

Follows the AWS "Key states and their effects" table: a cryptographic operation on a Disabled
key is a ``DisabledException``; anything else a state forbids is a ``KMSInvalidStateException``.
"""

from __future__ import annotations

from enum import StrEnum

from trent.errors import catalogue as errors


class KeyState(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"
    UNAVAILABLE = "Unavailable"
    # multi-Region keys (issue 15; DevGuide key-state)
    CREATING = "Creating"  # a replica being made (ReplicateKey)
    UPDATING = "Updating"
    PENDING_REPLICA_DELETION = "PendingReplicaDeletion"  # a primary waiting for its replicas


class MaterialState(StrEnum):
    CURRENT = "CURRENT"
    NON_CURRENT = "NON_CURRENT"
    PENDING_ROTATION = "PENDING_ROTATION"


class RotationType(StrEnum):
    AUTOMATIC = "AUTOMATIC"
    ON_DEMAND = "ON_DEMAND"


E, D, PD, PI = (
    KeyState.ENABLED,
    KeyState.DISABLED,
    KeyState.PENDING_DELETION,
    KeyState.PENDING_IMPORT,
)

# Operations that use key material: a Disabled key answers DisabledException.
CRYPTOGRAPHIC = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
        "GetPublicKey",
        "DeriveSharedSecret",
        "Encapsulate",
        "Decapsulate",
    }
)

_EVERY = frozenset(KeyState)
# The states in which each operation proceeds; an operation not listed proceeds in every state.
ALLOWED: dict[str, frozenset[KeyState]] = {
    **{op: frozenset({E}) for op in CRYPTOGRAPHIC},
    "EnableKey": frozenset({E, D}),
    "DisableKey": frozenset({E, D}),
    "UpdateKeyDescription": frozenset({E, D, PI}),
    "ScheduleKeyDeletion": frozenset({E, D, PI}),
    "CancelKeyDeletion": frozenset({PD, KeyState.PENDING_REPLICA_DELETION}),
    "ReplicateKey": frozenset({E, D, PI}),
    "UpdatePrimaryRegion": frozenset({E, D}),
    "EnableKeyRotation": frozenset({E}),
    "DisableKeyRotation": frozenset({E}),
    "RotateKeyOnDemand": frozenset({E}),
    "CreateAlias": frozenset({E, D, PI}),
    "UpdateAlias": frozenset({E, D, PI}),
    "TagResource": frozenset({E, D, PI}),
    "GetParametersForImport": frozenset({E, D, PI}),
    "ImportKeyMaterial": frozenset({E, PI}),
    "UntagResource": frozenset({E, D, PI}),
    "CreateGrant": frozenset({E, D, PI}),
}

_PHRASE = {
    KeyState.DISABLED: "disabled",
    KeyState.PENDING_DELETION: "pending deletion",
    KeyState.PENDING_IMPORT: "pending import",
    KeyState.ENABLED: "enabled",
    KeyState.UNAVAILABLE: "unavailable",
    KeyState.CREATING: "creating",
    KeyState.UPDATING: "updating",
    KeyState.PENDING_REPLICA_DELETION: "pending replica deletion",
}


# Operations a Disabled key refuses with DisabledException rather than KMSInvalidStateException.
REFUSED_AS_DISABLED = CRYPTOGRAPHIC | {
    "EnableKeyRotation",
    "DisableKeyRotation",
    "RotateKeyOnDemand",
}


def check_state(operation: str, state: str, arn: str) -> None:
    """Raise the AWS error when a key in ``state`` may not perform ``operation``."""
    key_state = KeyState(state)
    if key_state in ALLOWED.get(operation, _EVERY):
        return
    if operation == "CancelKeyDeletion":
        raise errors.NOT_PENDING_DELETION(arn=arn)
    if key_state is KeyState.DISABLED and operation in REFUSED_AS_DISABLED:
        raise errors.KEY_DISABLED(arn=arn)
    raise errors.KEY_STATE(arn=arn, phrase=_PHRASE[key_state])
