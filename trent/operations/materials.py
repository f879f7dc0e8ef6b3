"""Key material: making it, sealing it for storage, destroying it."""

from __future__ import annotations

from trent.crypto import asymmetric
from trent.crypto import material as key_material
from trent.operations.context import Env
from trent.operations.keyring import MATERIAL_PURPOSE, material_owner
from trent.operations.states import MaterialState, RotationType
from trent.store import MaterialRow


def seal_material(env: Env, key_id: str, secret: bytes) -> tuple[str, bytes]:
    """(material id, the material sealed under the root key for this key and material id)."""
    material_id = key_material.material_id(key_id, secret)
    owner = material_owner(key_id, material_id)
    return material_id, env.barrier.seal(MATERIAL_PURPOSE, owner, secret)


def create_symmetric_material(
    env: Env, key_id: str, rotation_type: RotationType | None, now: float
) -> MaterialRow:
    """Generate 256 bits, seal them under the root key and insert the row (state CURRENT).

    Call inside a write transaction; the caller demotes the previous CURRENT material.
    """
    material_id, sealed = seal_material(env, key_id, key_material.generate_symmetric())
    row = MaterialRow(
        key_id=key_id,
        material_id=material_id,
        sealed=sealed,
        state=MaterialState.CURRENT,
        created_at=now,
        rotated_at=now if rotation_type else None,
        rotation_type=rotation_type,
    )
    env.store.insert_material(row)
    return row


def create_private_material(
    env: Env, key_id: str, spec: str, now: float, private: bytes | None = None
) -> MaterialRow:
    """An asymmetric private key or an HMAC key for a new key (state CURRENT): ``private`` (as
    ``asymmetric.generate_private`` makes it) when given, else generated here."""
    if private is None:
        private = asymmetric.generate_private(spec)
    material_id, sealed = seal_material(env, key_id, private)
    row = MaterialRow(
        key_id=key_id,
        material_id=material_id,
        sealed=sealed,
        state=MaterialState.CURRENT,
        created_at=now,
    )
    env.store.insert_material(row)
    return row
