"""The due work: automatic rotations and key deletions."""

from __future__ import annotations

from dataclasses import dataclass

from trent.operations.context import Env
from trent.operations.rotation import rotate_automatically
from trent.operations.states import KeyState

BATCH = 100


@dataclass(frozen=True)
class Event:
    """Something the scheduler did, for the audit trail (``RotateKey``, ``DeleteKey``)."""

    name: str
    key_arn: str
    time: float
    details: dict[str, str]


def run_due(env: Env) -> list[Event]:
    """Perform every rotation and deletion that is due now; return what was done."""
    return rotate_due(env) + delete_due(env)


def rotate_due(env: Env) -> list[Event]:
    events: list[Event] = []
    now = env.clock.now()
    for candidate in env.store.due_rotations(now, BATCH):
        with env.write():
            key = env.store.get_key(candidate.key_id)
            if key is None or not key.rotation_enabled or key.next_rotation_at is None:
                continue
            if key.next_rotation_at > now or key.state != KeyState.ENABLED:
                continue  # a disabled or pending-deletion key waits; EnableKey catches up
            due = key.next_rotation_at
            rotate_automatically(env, key, at=due)
        events.append(
            Event(
                "RotateKey",
                env.keyring.arn(key.key_id),
                due,
                {"keyMaterialId": key.current_material_id or ""},
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
            if key is None or key.state != KeyState.PENDING_DELETION:
                continue
            if key.deletion_date is None or key.deletion_date > now:
                continue
            env.store.delete_key(key.key_id)  # materials, aliases, tags and usage cascade
        deleted = True
        events.append(Event("DeleteKey", env.keyring.arn(key.key_id), now, {}))
    if deleted:
        env.store.checkpoint()
    return events
