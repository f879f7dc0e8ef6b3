"""The due work: automatic rotations and key deletions."""

from __future__ import annotations

from dataclasses import dataclass

from trent.operations import mrk
from trent.operations.context import Env
from trent.operations.imports import destroy_material
from trent.operations.rotation import rotate_automatically
from trent.operations.states import KeyState

BATCH = 100
SESSION_GRACE_SECONDS = 86400  # an expired session is still named as expired for a day


@dataclass(frozen=True)
class Event:
    """Something the scheduler did, for the audit trail (``RotateKey``, ``DeleteKey``)."""

    name: str
    key_arn: str
    time: float
    details: dict[str, str]


def run_due(env: Env) -> list[Event]:
    """Perform every rotation, expiry and deletion that is due now; return what was done.
    Each region served is visited in turn; each key's work runs bound to the key's account
    (``Env.bind``)."""
    events: list[Event] = []
    for region in env.regions or (env.region,):
        with env.in_region(region):
            events += rotate_due(env) + expire_materials(env) + delete_due(env)
    return events + destroy_wrapping_keys(env)


def expire_materials(env: Env) -> list[Event]:
    """Imported material whose ValidTo has come is destroyed, as DeleteImportedKeyMaterial
    would (the key goes to PendingImport until it is imported again)."""
    events: list[Event] = []
    now = env.clock.now()
    for candidate in env.store.expired_materials(now, BATCH):
        with env.write():
            key = env.store.get_key(candidate.key_id)
            if key is not None:
                env.bind(key.account_id)
            row = next(
                (
                    m
                    for m in env.store.list_materials(candidate.key_id)
                    if m.material_id == candidate.material_id
                ),
                None,
            )
            if key is None or row is None or row.sealed is None:
                continue
            if row.valid_to is None or row.valid_to > now:
                continue
            destroy_material(env, key, row)
        events.append(
            Event(
                "DeleteExpiredKeyMaterial",
                env.keyring.arn(key.key_id),
                row.valid_to,
                {"keyMaterialId": row.material_id},
            )
        )
    if events:
        env.store.checkpoint()
    return events


def destroy_wrapping_keys(env: Env) -> list[Event]:
    """Wrapping key pairs of expired import tokens are deleted (no event: nothing of a key);
    so are STS sessions a day after they expired."""
    with env.write():
        destroyed = env.store.delete_expired_import_parameters(env.clock.now())
        destroyed += env.store.delete_expired_sessions(env.clock.now() - SESSION_GRACE_SECONDS)
    if destroyed:
        env.store.checkpoint()
    return []


def rotate_due(env: Env) -> list[Event]:
    events: list[Event] = []
    now = env.clock.now()
    for candidate in env.store.due_rotations(now, BATCH):
        with env.write():
            key = env.store.get_key(candidate.key_id)
            if key is not None:
                env.bind(key.account_id)
            if key is None or not key.rotation_enabled or key.next_rotation_at is None:
                continue
            if key.next_rotation_at > now or key.state != KeyState.ENABLED:
                continue  # a disabled or pending-deletion key waits; EnableKey catches up
            due = key.next_rotation_at
            previous = key.current_material_id or ""
            rotate_automatically(env, key, at=due)
        events.append(
            Event(
                "RotateKey",
                env.keyring.arn(key.key_id),
                due,
                {  # serviceEventDetails as in AWS's RotateKey CloudTrail example
                    "rotationType": "AUTOMATIC",
                    "keyOrigin": key.origin,
                    "previousKeyMaterialId": previous,
                    "currentKeyMaterialId": key.current_material_id or "",
                },
            )
        )
    return events


def delete_due(env: Env) -> list[Event]:
    events: list[Event] = []
    now = env.clock.now()
    deleted = False
    for candidate in env.store.due_deletions(now, BATCH):
        with env.write():
            key = env.store.get_key(candidate.key_id)
            if key is not None:
                env.bind(key.account_id)
            if key is None or key.state != KeyState.PENDING_DELETION:
                continue
            if key.deletion_date is None or key.deletion_date > now:
                continue
            env.store.delete_key(key.key_id)  # materials, aliases, tags and usage cascade
            if key.multi_region_type == mrk.REPLICA:
                mrk.replica_deleted(env, key)
        deleted = True
        events.append(Event("DeleteKey", env.keyring.arn(key.key_id), now, {}))
    if deleted:
        env.store.checkpoint()
    return events
