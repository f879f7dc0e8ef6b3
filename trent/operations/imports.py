"""Bring your own key: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.

A key created with ``Origin=EXTERNAL`` has no material until one is imported. The first import
makes it CURRENT (and the key Enabled); each later ``NEW_KEY_MATERIAL`` import adds a material
in ``PENDING_ROTATION`` that ``RotateKeyOnDemand`` makes CURRENT. Deleting (or the expiry of) a
CURRENT or NON_CURRENT material puts the key in ``PendingImport`` until every such material is
imported again (``EXISTING_KEY_MATERIAL``), as AWS documents; a PENDING_ROTATION material is
simply removed.

The import token is the barrier-sealed ``{token id, algorithm, wrapping key spec, expiry}``
with the key id as owner: opaque, unforgeable, and useless on another key. The wrapping private
key is stored sealed and destroyed by the scheduler when the token expires (24 hours).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from functools import partial

import orjson

from trent.crypto import asymmetric, wrapping
from trent.crypto.material import SYMMETRIC_KEY_BYTES
from trent.errors import KMSError
from trent.errors import catalogue as errors
from trent.operations import mrk, pregen
from trent.operations.context import Call, Env, Request, Response
from trent.operations.materials import seal_material
from trent.operations.states import KeyState, MaterialState, check_state
from trent.seal import BarrierError
from trent.store import ImportParametersRow, KeyRow, MaterialRow

TOKEN_PURPOSE = "import-token"
WRAPPING_KEY_PURPOSE = "wrapping-key"
TOKEN_LIFETIME = 24 * 3600.0
MAX_VALID_TO = 365 * 86400.0
EXPIRES = "KEY_MATERIAL_EXPIRES"
DOES_NOT_EXPIRE = "KEY_MATERIAL_DOES_NOT_EXPIRE"
IMPORTED, PENDING_IMPORT = "IMPORTED", "PENDING_IMPORT"


def external_key(env: Env, call: Call, req: Request, operation: str) -> KeyRow:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, operation, key)
    arn = env.keyring.arn(key.key_id)
    if key.origin != "EXTERNAL":
        raise errors.ORIGIN_NOT_VALID(arn=arn, origin=key.origin)
    check_state(operation, key.state, arn)
    return key


# --- GetParametersForImport ---------------------------------------------------------------------
def get_parameters_for_import(env: Env, call: Call, req: Request) -> Response:
    key = external_key(env, call, req, "GetParametersForImport")
    algorithm, spec = req["WrappingAlgorithm"], req["WrappingKeySpec"]
    if algorithm == "SM2PKE" or spec == "SM2":
        raise errors.SM2_WRAPPING()
    if algorithm not in wrapping.SUPPORTED_ALGORITHMS:
        raise errors.PKCS1_WRAPPING(algorithm=algorithm)
    if key.key_spec.startswith("RSA_") and not algorithm.startswith("RSA_AES_KEY_WRAP"):
        raise errors.RSA_NEEDS_KEY_WRAP()
    if key.key_spec == "ECC_NIST_P521" and spec == "RSA_2048" and algorithm.startswith("RSAES"):
        raise errors.P521_NEEDS_KEY_WRAP()
    private_der, public_der = pregen.wrapping_key_pair(call, spec)
    token_id = str(uuid.uuid4())
    expires_at = env.clock.now() + TOKEN_LIFETIME
    with env.write():
        env.keyring.resolve(key.key_id, fresh=True)
        env.store.insert_import_parameters(
            ImportParametersRow(
                token_id=token_id,
                key_id=key.key_id,
                wrapping_algorithm=algorithm,
                wrapping_key_spec=spec,
                sealed_private_key=env.barrier.seal(WRAPPING_KEY_PURPOSE, token_id, private_der),
                expires_at=expires_at,
            )
        )
    payload = {"id": token_id, "alg": algorithm, "spec": spec, "exp": expires_at}
    token = env.barrier.seal(TOKEN_PURPOSE, key.key_id, orjson.dumps(payload))
    return {
        "KeyId": env.keyring.arn(key.key_id),
        "ImportToken": token,
        "PublicKey": public_der,
        "ParametersValidTo": expires_at,
    }


# --- ImportKeyMaterial --------------------------------------------------------------------------
def _open_token(env: Env, key: KeyRow, token: bytes) -> ImportParametersRow:
    try:
        payload = orjson.loads(env.barrier.open(TOKEN_PURPOSE, key.key_id, token))
    except BarrierError as exc:
        raise errors.INVALID_IMPORT_TOKEN() from exc
    if payload["exp"] <= env.clock.now():
        raise errors.EXPIRED_IMPORT_TOKEN()
    row = env.store.get_import_parameters(payload["id"])
    if row is None or row.key_id != key.key_id or row.wrapping_algorithm != payload["alg"]:
        raise errors.INVALID_IMPORT_TOKEN()
    return row


_UNWRAPPED, _NOT_UNWRAPPED, _BAD_MATERIAL = b"ok", b"unwrap", b"material"  # unwrap job outcomes
_NOT_UNWRAPPED_DETAIL = "the encrypted key material does not unwrap with the import parameters"


def unwrap_job(env: Env, operation: str, req: Request) -> Callable[[], pregen.Prepared] | None:
    """ImportKeyMaterial's unwrapping and checking, as a job for ``pregen.KeyPairPool`` (off
    the event loop): RSA-OAEP under the import's RSA wrapping key (about 1.3 ms at 4096 bits)
    and, for an RSA private key, OpenSSL's check of its primes (about 0.2 s for RSA_4096).
    Only the wrapping key is opened here, on the loop; nothing is authorized or changed: the
    handler does that, and takes the result only when it was made from the same token and
    material. None for another operation or a request the handler will refuse anyway."""
    if operation != "ImportKeyMaterial":
        return None
    try:
        key = env.keyring.resolve(req["KeyId"], aliases=False)  # as external_key resolves
        if key.origin != "EXTERNAL":
            return None
        parameters = _open_token(env, key, req["ImportToken"])
        private_der = env.barrier.open(
            WRAPPING_KEY_PURPOSE, parameters.token_id, parameters.sealed_private_key
        )
    except (KMSError, BarrierError):
        return None
    wrapped = req["EncryptedKeyMaterial"]
    return partial(
        _unwrap_job,
        _tag(parameters, wrapped),
        parameters.wrapping_algorithm,
        private_der,
        wrapped,
        key.key_spec,
    )


def _tag(parameters: ImportParametersRow, wrapped: bytes) -> str:
    """What an unwrap job was made for: the import parameters and the exact material."""
    return f"{parameters.token_id}:{hashlib.sha256(wrapped).hexdigest()}"


def _unwrap_job(
    tag: str, algorithm: str, private_der: bytes, wrapped: bytes, spec: str
) -> pregen.Prepared:
    """(outcome, stored form or error text) of unwrapping ``wrapped`` for a key of ``spec``."""
    try:
        secret = wrapping.unwrap(algorithm, private_der, wrapped)
    except wrapping.UnwrapError:
        return pregen.Prepared("import", tag, (_NOT_UNWRAPPED, b""))
    if spec == "SYMMETRIC_DEFAULT":  # its length is checked by _unwrap
        return pregen.Prepared("import", tag, (_UNWRAPPED, secret))
    try:
        stored = asymmetric.import_private(spec, secret)
    except asymmetric.CryptoError as exc:
        return pregen.Prepared("import", tag, (_BAD_MATERIAL, str(exc).encode()))
    return pregen.Prepared("import", tag, (_UNWRAPPED, stored))


def _unwrap(
    env: Env, call: Call, key: KeyRow, parameters: ImportParametersRow, wrapped: bytes
) -> bytes:
    """The imported material in its stored form, checked against the key's spec: what
    ``unwrap_job`` made when the protocol layer ran it for this token and material, else the
    same job run here."""
    tag = _tag(parameters, wrapped)
    prepared = pregen.take_prepared(call, "import", tag)
    if not isinstance(prepared, tuple):
        private_der = env.barrier.open(
            WRAPPING_KEY_PURPOSE, parameters.token_id, parameters.sealed_private_key
        )
        job = _unwrap_job(tag, parameters.wrapping_algorithm, private_der, wrapped, key.key_spec)
        assert isinstance(job.value, tuple)
        prepared = job.value
    outcome, value = prepared
    if outcome == _NOT_UNWRAPPED:
        raise errors.INVALID_CIPHERTEXT(detail=_NOT_UNWRAPPED_DETAIL)
    if outcome == _BAD_MATERIAL:  # not a PKCS#8 private key of this spec, or bad HMAC bytes
        raise errors.INVALID_CIPHERTEXT(detail=f"imported key material: {value.decode()}")
    if key.key_spec == "SYMMETRIC_DEFAULT" and len(value) != SYMMETRIC_KEY_BYTES:
        raise errors.INVALID_CIPHERTEXT(
            detail=f"imported SYMMETRIC_DEFAULT key material must be {SYMMETRIC_KEY_BYTES} "
            f"bytes, not {len(value)}"
        )
    return value


def _expiry(env: Env, req: Request) -> tuple[str, float | None]:
    """(ExpirationModel, ValidTo) as the API Reference defines them: ExpirationModel defaults
    to KEY_MATERIAL_EXPIRES, which needs a ValidTo (AWS refuses the import without one, and
    the key stays PendingImport [LS-snap; issue 9])."""
    model, valid_to = req.get("ExpirationModel") or EXPIRES, req.get("ValidTo")
    if model == EXPIRES:
        now = env.clock.now()
        if valid_to is None:
            raise errors.VALID_TO_REQUIRED()
        if valid_to <= now:
            raise errors.VALID_TO_PAST()
        if valid_to > now + MAX_VALID_TO:
            raise errors.VALID_TO_TOO_LATE()
    elif valid_to is not None:
        raise errors.VALID_TO_FORBIDDEN()
    return model, valid_to


def import_key_material(env: Env, call: Call, req: Request) -> Response:
    key = external_key(env, call, req, "ImportKeyMaterial")
    model, valid_to = _expiry(env, req)
    parameters = _open_token(env, key, req["ImportToken"])
    secret = _unwrap(env, call, key, parameters, req["EncryptedKeyMaterial"])
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state("ImportKeyMaterial", key.state, env.keyring.arn(key.key_id))
        materials = env.store.list_materials(key.key_id)
        import_type = req.get("ImportType") or (
            "EXISTING_KEY_MATERIAL" if materials else "NEW_KEY_MATERIAL"
        )
        material_id, sealed = seal_material(env, key.key_id, secret)
        known = {m.material_id: m for m in materials}
        if import_type == "NEW_KEY_MATERIAL":
            if not known and key.multi_region:
                _check_related(env, key, material_id)
            row = _new_material(env, key, req, material_id, sealed, known)
        else:
            row = _existing_material(req, material_id, sealed, known)
        row.expiration_model, row.valid_to = model, valid_to
        if "KeyMaterialDescription" in req:
            row.description = req["KeyMaterialDescription"]
        if row.seq:
            env.store.update_material(row)
        else:
            env.store.insert_material(row)
        if row.state == MaterialState.CURRENT and key.current_material_id is None:
            key.current_material_id = row.material_id
        _enable_if_complete(env, key)
    return {"KeyId": env.keyring.arn(key.key_id), "KeyMaterialId": material_id}


def _check_related(env: Env, key: KeyRow, material_id: str) -> None:
    """A multi-Region key's first imported material must be the material its related keys
    hold, if any hold one [DevGuide multi-region-keys-import: import the same key material
    into the primary and each replica]: the material id (which depends only on the key id and
    the material) tells."""
    for copy in mrk.related(env, key):
        if copy.region == key.region:
            continue
        with env.in_region(mrk.region_of(env, copy)):
            held = {m.material_id for m in env.store.list_materials(copy.key_id)}
        if held and material_id not in held:
            raise errors.MULTI_REGION_MATERIAL()


def _new_material(
    env: Env,
    key: KeyRow,
    req: Request,
    material_id: str,
    sealed: bytes,
    known: dict[str, MaterialRow],
) -> MaterialRow:
    if "KeyMaterialId" in req:
        raise errors.MATERIAL_ID_WITH_NEW()
    if material_id in known:
        raise errors.MATERIAL_ALREADY_IMPORTED()
    first = not known
    if not first and key.key_spec != "SYMMETRIC_DEFAULT":
        raise errors.MATERIAL_CANNOT_CHANGE()
    pending = [m for m in known.values() if m.state == MaterialState.PENDING_ROTATION]
    if not first and pending:
        raise errors.ANOTHER_PENDING_ROTATION(
            new_id=material_id, key_id=key.key_id, pending_id=pending[0].material_id
        )
    return MaterialRow(
        key_id=key.key_id,
        material_id=material_id,
        sealed=sealed,
        state=MaterialState.CURRENT if first else MaterialState.PENDING_ROTATION,
        created_at=env.clock.now(),
        import_state=IMPORTED,
    )


def _existing_material(
    req: Request, material_id: str, sealed: bytes, known: dict[str, MaterialRow]
) -> MaterialRow:
    named = req.get("KeyMaterialId", material_id)
    row = known.get(named)
    if named != material_id or row is None:
        raise errors.NOT_THE_IMPORTED_MATERIAL()
    row.sealed, row.import_state = sealed, IMPORTED
    return row


def _enable_if_complete(env: Env, key: KeyRow) -> None:
    """A PendingImport key becomes Enabled once every material it has used is imported."""
    if key.state == KeyState.PENDING_IMPORT and key.current_material_id is not None:
        used = [
            m
            for m in env.store.list_materials(key.key_id)
            if m.state != MaterialState.PENDING_ROTATION
        ]
        if all(m.sealed is not None for m in used):
            key.state = KeyState.ENABLED
    env.store.update_key(key)


# --- DeleteImportedKeyMaterial ------------------------------------------------------------------
def destroy_material(env: Env, key: KeyRow, row: MaterialRow) -> None:
    """Destroy one material's copy (inside a write transaction). A material that was never
    used (PENDING_ROTATION) is removed; a used one stays listed as PENDING_IMPORT and its key
    goes to PendingImport (unless pending deletion)."""
    if row.state == MaterialState.PENDING_ROTATION:
        env.store.delete_material(row.key_id, row.material_id)
    else:
        row.sealed, row.import_state = None, PENDING_IMPORT
        env.store.update_material(row)
        if key.state != KeyState.PENDING_DELETION:
            key.state = KeyState.PENDING_IMPORT
            env.store.update_key(key)


def delete_imported_key_material(env: Env, call: Call, req: Request) -> Response:
    key = external_key(env, call, req, "DeleteImportedKeyMaterial")
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        material_id = req.get("KeyMaterialId") or key.current_material_id
        materials = {m.material_id: m for m in env.store.list_materials(key.key_id)}
        if material_id is None:  # nothing was ever imported: nothing to delete
            return {"KeyId": env.keyring.arn(key.key_id)}
        row = materials.get(material_id or "")
        if row is None:
            raise errors.MATERIAL_NOT_ASSOCIATED(material_id=material_id)
        if row.sealed is not None:
            destroy_material(env, key, row)
    env.store.checkpoint()
    return {"KeyId": env.keyring.arn(key.key_id), "KeyMaterialId": row.material_id}


HANDLERS = {
    "GetParametersForImport": get_parameters_for_import,
    "ImportKeyMaterial": import_key_material,
    "DeleteImportedKeyMaterial": delete_imported_key_material,
}
