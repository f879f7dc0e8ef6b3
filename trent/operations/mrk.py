"""Multi-Region keys: what the key operations need of them (issue 15).

A multi-Region key is one key row per region, every one with the same ``mrk-`` key id
(``trent.store.regions`` names the rows): one ``PRIMARY``, the others ``REPLICA``
(``KeyRow.multi_region_type``). Each related key has its own key policy, description, tags,
aliases, grants and key state; the key material is shared by copy: every material row of the
primary (the same material id and sealed bytes; the sealing owner names the key id, not the
region) is copied into each replica when it is made and after every rotation of the primary
(``share_materials``), so a ciphertext, signature or MAC made by any of them is decrypted or
verified by any other [DevGuide multi-region-keys-overview: "the same key ID, key material"].
Rotation is a shared property managed on the primary [DevGuide multi-region-keys-manage].
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from trent.operations.context import Env
from trent.store import KeyRow

PRIMARY = "PRIMARY"
REPLICA = "REPLICA"
DAY = 86400.0


def new_key_id() -> str:
    """A multi-Region key id: ``mrk-`` and 32 lowercase hex digits [API-ref KeyMetadata]."""
    return "mrk-" + uuid.uuid4().hex


def related(env: Env, key: KeyRow) -> list[KeyRow]:
    """Every related multi-Region key of ``key`` (itself included), in any region served."""
    return env.store.key_copies(key.key_id)


def region_of(env: Env, key: KeyRow) -> str:
    return env.keyring.region_of(key)


def configuration(env: Env, key: KeyRow) -> dict[str, Any]:
    """DescribeKey's ``MultiRegionConfiguration``: the key's type, its primary key's ARN and
    region, and every replica key's (the key itself included when it is a replica)
    [API-ref MultiRegionConfiguration]."""
    copies = related(env, key)
    primary = next((c for c in copies if c.multi_region_type == PRIMARY), key)

    def entry(copy: KeyRow) -> dict[str, str]:
        region = region_of(env, copy)
        return {"Arn": env.keyring.arn_in(region, copy), "Region": region}

    return {
        "MultiRegionKeyType": key.multi_region_type or PRIMARY,
        "PrimaryKey": entry(primary),
        "ReplicaKeys": [entry(c) for c in copies if c.multi_region_type == REPLICA],
    }


def primary_of(env: Env, key: KeyRow) -> KeyRow:
    """The primary key related to ``key`` (``key`` itself when it is the primary)."""
    if key.multi_region_type != REPLICA:
        return key
    return next((c for c in related(env, key) if c.multi_region_type == PRIMARY), key)


def share_materials(env: Env, primary: KeyRow) -> None:
    """Copy the primary's key material to each replica and make its current material theirs
    (inside the caller's write transaction; call after the primary's material changed). An
    imported material a replica was never given is not copied: it is imported into each
    related key [DevGuide multi-region-keys-import]."""
    rows = env.store.list_materials(primary.key_id)
    for copy in related(env, primary):
        if copy.multi_region_type != REPLICA:
            continue
        with env.in_region(region_of(env, copy)):
            held = {m.material_id: m for m in env.store.list_materials(copy.key_id)}
            for row in rows:
                mine = held.get(row.material_id)
                if mine is None:
                    if primary.origin == "EXTERNAL":
                        continue
                    env.store.insert_material(replace(row, seq=0))
                elif (mine.state, mine.rotated_at, mine.rotation_type) != (
                    row.state,
                    row.rotated_at,
                    row.rotation_type,
                ):
                    mine.state, mine.rotated_at = row.state, row.rotated_at
                    mine.rotation_type = row.rotation_type
                    env.store.update_material(mine)
            copy.current_material_id = primary.current_material_id
            env.store.update_key(copy)


def replica_deleted(env: Env, replica: KeyRow) -> None:
    """After a replica key is deleted: a primary in ``PendingReplicaDeletion`` whose last
    replica this was begins its waiting period (``PendingDeletion``) [API-ref
    ScheduleKeyDeletion]. Inside the caller's write transaction."""
    from trent.operations.states import KeyState

    copies = related(env, replica)
    if any(c.multi_region_type == REPLICA for c in copies):
        return
    for copy in copies:
        if copy.state == KeyState.PENDING_REPLICA_DELETION:
            copy.state = KeyState.PENDING_DELETION
            copy.deletion_date = env.clock.now() + (copy.pending_window_days or 30) * DAY
            env.store.update_key(copy)
