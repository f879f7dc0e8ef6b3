"""Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
ListKeyRotations.

Rotation adds key material; the key id, ARN, aliases and tags stay. Older material stays to
decrypt what it made; new ciphertext uses the CURRENT material.
"""

from __future__ import annotations

from typing import Any

from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.materials import create_symmetric_material
from trent.operations.paging import page
from trent.operations.states import KeyState, MaterialState, RotationType, check_state
from trent.store import KeyRow, MaterialRow

DAY = 86400.0
DEFAULT_ROTATION_PERIOD_DAYS = 365
# AWS KMS allows 25 on-demand rotations per key over its lifetime: the current developer guide
# ("Rotate keys on-demand", "Resource quotas": 25, not adjustable); the 2024 launch said 10.
MAX_ON_DEMAND_ROTATIONS = 25


def _rotatable(
    env: Env, call: Call, req: Request, operation: str, origins: tuple[str, ...] = ("AWS_KMS",)
) -> KeyRow:
    """A key that ``operation`` may rotate. For RotateKeyOnDemand the key state comes first: a
    disabled key is ``DisabledException`` before any check of origin or spec [LS-snap; issue
    9]; the other operations check the origin first (an EXTERNAL key pending import is
    ``UnsupportedOperationException``, DevGuide key-state [6]). A key spec other than
    SYMMETRIC_DEFAULT is ``UnsupportedOperationException`` with no message [LS-snap]."""
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, operation, key)
    arn = env.keyring.arn(key.key_id)
    if operation == "RotateKeyOnDemand":
        check_state(operation, key.state, arn)
    if key.origin not in origins:
        raise errors.ORIGIN_NOT_VALID(arn=arn, origin=key.origin)
    if key.key_spec != "SYMMETRIC_DEFAULT":
        raise errors.ROTATION_UNSUPPORTED_SPEC(detail=f"{arn} key spec is {key.key_spec}")
    check_state(operation, key.state, arn)
    return key


def enable_key_rotation(env: Env, call: Call, req: Request) -> Response:
    """Turning rotation on schedules the first rotation one period from now; giving a period
    to a key whose rotation is on resets the schedule to that period from now. Without a
    period, a key keeps the one it had (rotation turned off and on again), else 365 days."""
    key = _rotatable(env, call, req, "EnableKeyRotation")
    given = req.get("RotationPeriodInDays")
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state("EnableKeyRotation", key.state, env.keyring.arn(key.key_id))
        if key.rotation_enabled and given is None:
            return {}
        period = given or key.rotation_period_days or DEFAULT_ROTATION_PERIOD_DAYS
        key.rotation_enabled = True
        key.rotation_period_days = period
        key.next_rotation_at = env.clock.now() + period * DAY
        env.store.update_key(key)
    return {}


def disable_key_rotation(env: Env, call: Call, req: Request) -> Response:
    key = _rotatable(env, call, req, "DisableKeyRotation")
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state("DisableKeyRotation", key.state, env.keyring.arn(key.key_id))
        key.rotation_enabled = False
        key.next_rotation_at = None
        env.store.update_key(key)
    return {}


def get_key_rotation_status(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False, foreign=True)
    env.authorize(call, "GetKeyRotationStatus", key)
    # While a key is pending deletion its rotation status reads false; cancelling restores it.
    enabled = bool(key.rotation_enabled) and key.state != KeyState.PENDING_DELETION
    # KeyId as the caller named the key: the key id for a key id (aws CLI's example, issue 9),
    # the key ARN for a key ARN (seed 002); never an ARN built from a key id.
    response: dict[str, Any] = {"KeyRotationEnabled": enabled, "KeyId": req["KeyId"]}
    if enabled:
        response["RotationPeriodInDays"] = key.rotation_period_days
        response["NextRotationDate"] = key.next_rotation_at
    if key.on_demand_rotation_started_at is not None:
        response["OnDemandRotationStartDate"] = key.on_demand_rotation_started_at
    return response


def rotate(env: Env, key: KeyRow, rotation_type: RotationType, at: float | None = None) -> KeyRow:
    """Make new CURRENT material for ``key`` (inside a write transaction); demote the old.

    An AWS_KMS key gets freshly generated material; an EXTERNAL key's imported material in
    PENDING_ROTATION becomes CURRENT.
    """
    now = env.clock.now() if at is None else at
    materials = env.store.list_materials(key.key_id)
    pending = [m for m in materials if m.state == MaterialState.PENDING_ROTATION and m.sealed]
    if key.origin == "EXTERNAL" and not pending:
        raise errors.NO_PENDING_ROTATION(arn=env.keyring.arn(key.key_id))
    for row in materials:
        if row.state == MaterialState.CURRENT:
            row.state = MaterialState.NON_CURRENT
            env.store.update_material(row)
    if key.origin == "EXTERNAL":
        material = pending[0]
        material.state, material.rotation_type, material.rotated_at = (
            MaterialState.CURRENT,
            rotation_type,
            now,
        )
        env.store.update_material(material)
    else:
        material = create_symmetric_material(env, key.key_id, rotation_type, now)
    key.current_material_id = material.material_id
    if rotation_type is RotationType.ON_DEMAND:
        key.on_demand_rotations += 1
    env.store.update_key(key)
    return key


def rotate_automatically(env: Env, key: KeyRow, at: float) -> None:
    """Rotate ``key`` as of ``at`` (inside a write transaction) and schedule the next rotation
    one period later — or one period from now if the server missed more than a period."""
    period = (key.rotation_period_days or DEFAULT_ROTATION_PERIOD_DAYS) * DAY
    rotate(env, key, RotationType.AUTOMATIC, at=at)
    now = env.clock.now()
    key.next_rotation_at = at + period if at + period > now else now + period
    env.store.update_key(key)


def catch_up_rotation(env: Env, key: KeyRow) -> None:
    """A key enabled again (or whose deletion was cancelled) whose rotation fell due while it
    could not rotate is rotated at once (inside the caller's write transaction)."""
    now = env.clock.now()
    due = key.next_rotation_at
    if key.rotation_enabled and due is not None and due <= now and key.state == KeyState.ENABLED:
        rotate_automatically(env, key, at=now)


def rotate_key_on_demand(env: Env, call: Call, req: Request) -> Response:
    key = _rotatable(env, call, req, "RotateKeyOnDemand", ("AWS_KMS", "EXTERNAL"))
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state("RotateKeyOnDemand", key.state, env.keyring.arn(key.key_id))
        if key.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS:
            raise errors.ROTATION_LIMIT(arn=env.keyring.arn(key.key_id))
        check_dry_run(req)
        rotate(env, key, RotationType.ON_DEMAND)
    return {"KeyId": env.keyring.arn(key.key_id)}  # the key ARN [LS-snap; seed 002]


def list_key_rotations(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, "ListKeyRotations", key)
    if key.key_spec != "SYMMETRIC_DEFAULT":
        raise errors.ROTATION_UNSUPPORTED_SPEC(
            detail=f"{env.keyring.arn(key.key_id)} key spec is {key.key_spec}"
        )
    # ROTATIONS_ONLY (the default) lists what rotations made; ALL_KEY_MATERIAL adds the first.
    everything = req.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
    materials = env.store.list_materials(key.key_id)
    rotations = [m for m in materials if everything or m.rotation_type]

    def fetch(after: str | None, limit: int) -> list[Any]:
        if after is not None and not after.isdigit():
            raise errors.INVALID_MARKER()
        start = int(after) if after else 0
        return [m for m in rotations if m.seq > start][:limit]

    rows, more = page(req, fetch, lambda m: str(m.seq))
    return {"Rotations": [_rotation_entry(env, m) for m in rows], **more}


def _rotation_entry(env: Env, material: MaterialRow) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "KeyId": env.keyring.arn(material.key_id),
        "KeyMaterialId": material.material_id,
        "KeyMaterialState": material.state,
    }
    if material.import_state:  # imported material: where it stands and when it expires
        if material.description is not None:
            entry["KeyMaterialDescription"] = material.description
        entry["ImportState"] = material.import_state
        if material.sealed is not None:  # a deleted material has no expiry to show
            entry["ExpirationModel"] = material.expiration_model
            if material.valid_to is not None:
                entry["ValidTo"] = material.valid_to
    if material.rotation_type:
        entry["RotationDate"] = material.rotated_at
        entry["RotationType"] = material.rotation_type
    return entry


HANDLERS = {
    "EnableKeyRotation": enable_key_rotation,
    "DisableKeyRotation": disable_key_rotation,
    "GetKeyRotationStatus": get_key_rotation_status,
    "RotateKeyOnDemand": rotate_key_on_demand,
    "ListKeyRotations": list_key_rotations,
}
