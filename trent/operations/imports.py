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

import uuid

import orjson

from trent.crypto import asymmetric, wrapping
from trent.crypto.material import SYMMETRIC_KEY_BYTES
from trent.errors import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    InvalidImportTokenException,
    KMSInvalidStateException,
    UnsupportedOperationException,
    ValidationException,
)
from trent.operations import pregen
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
_INVALID_TOKEN = "The import token is invalid or is associated with a different KMS key."


def external_key(env: Env, call: Call, req: Request, operation: str) -> KeyRow:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, operation, key)
    arn = env.keyring.arn(key.key_id)
    if key.origin != "EXTERNAL":
        raise UnsupportedOperationException(
            f"{arn} origin is {key.origin} which is not valid for this operation."
        )
    check_state(operation, key.state, arn)
    return key


# --- GetParametersForImport ---------------------------------------------------------------------
def get_parameters_for_import(env: Env, call: Call, req: Request) -> Response:
    key = external_key(env, call, req, "GetParametersForImport")
    algorithm, spec = req["WrappingAlgorithm"], req["WrappingKeySpec"]
    if algorithm == "SM2PKE" or spec == "SM2":
        raise ValidationException("SM2 wrapping is available only in China Regions.")
    if algorithm not in wrapping.SUPPORTED_ALGORITHMS:
        raise ValidationException(
            f"The wrapping algorithm {algorithm} is not supported: KMS no longer accepts "
            "RSAES_PKCS1_V1_5. Use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256."
        )
    if key.key_spec.startswith("RSA_") and not algorithm.startswith("RSA_AES_KEY_WRAP"):
        raise ValidationException(
            "An RSA private key is too long to wrap with RSAES_OAEP; use RSA_AES_KEY_WRAP_SHA_1 "
            "or RSA_AES_KEY_WRAP_SHA_256."
        )
    if key.key_spec == "ECC_NIST_P521" and spec == "RSA_2048" and algorithm.startswith("RSAES"):
        raise ValidationException(
            "An RSA_2048 wrapping key cannot wrap an ECC_NIST_P521 private key with RSAES_OAEP; "
            "use an RSA_AES_KEY_WRAP algorithm or a longer wrapping key."
        )
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
        raise InvalidImportTokenException(_INVALID_TOKEN) from exc
    if payload["exp"] <= env.clock.now():
        raise ExpiredImportTokenException(
            "The import token has expired. Use GetParametersForImport to get a new one."
        )
    row = env.store.get_import_parameters(payload["id"])
    if row is None or row.key_id != key.key_id or row.wrapping_algorithm != payload["alg"]:
        raise InvalidImportTokenException(_INVALID_TOKEN)
    return row


def _unwrap(env: Env, key: KeyRow, parameters: ImportParametersRow, wrapped: bytes) -> bytes:
    """The imported material in its stored form, checked against the key's spec."""
    private_der = env.barrier.open(
        WRAPPING_KEY_PURPOSE, parameters.token_id, parameters.sealed_private_key
    )
    try:
        secret = wrapping.unwrap(parameters.wrapping_algorithm, private_der, wrapped)
    except wrapping.UnwrapError as exc:
        raise InvalidCiphertextException(
            "The encrypted key material could not be unwrapped with the import parameters."
        ) from exc
    if key.key_spec != "SYMMETRIC_DEFAULT":
        try:  # a PKCS#8 DER private key of exactly this spec, or HMAC key bytes
            return asymmetric.import_private(key.key_spec, secret)
        except asymmetric.CryptoError as exc:
            raise InvalidCiphertextException(f"Imported key material: {exc}.") from exc
    if len(secret) != SYMMETRIC_KEY_BYTES:
        raise InvalidCiphertextException(
            f"Imported key material for a SYMMETRIC_DEFAULT key must be {SYMMETRIC_KEY_BYTES} "
            f"bytes; got {len(secret)}."
        )
    return secret


def _expiry(env: Env, req: Request) -> tuple[str, float | None]:
    """(ExpirationModel, ValidTo) as the API Reference defines them."""
    model, valid_to = req.get("ExpirationModel"), req.get("ValidTo")
    if model is None:
        model = EXPIRES if valid_to is not None else DOES_NOT_EXPIRE
    if model == EXPIRES:
        now = env.clock.now()
        if valid_to is None:
            raise ValidationException("ValidTo is required when ExpirationModel is EXPIRES.")
        if valid_to <= now:
            raise ValidationException("ValidTo must be a date and time in the future.")
        if valid_to > now + MAX_VALID_TO:
            raise ValidationException("ValidTo must be at most 365 days from now.")
    elif valid_to is not None:
        raise ValidationException(
            "ValidTo must not be given when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE."
        )
    return model, valid_to


def import_key_material(env: Env, call: Call, req: Request) -> Response:
    key = external_key(env, call, req, "ImportKeyMaterial")
    model, valid_to = _expiry(env, req)
    parameters = _open_token(env, key, req["ImportToken"])
    secret = _unwrap(env, key, parameters, req["EncryptedKeyMaterial"])
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


def _new_material(
    env: Env,
    key: KeyRow,
    req: Request,
    material_id: str,
    sealed: bytes,
    known: dict[str, MaterialRow],
) -> MaterialRow:
    if "KeyMaterialId" in req:
        raise ValidationException("KeyMaterialId cannot be given with ImportType NEW_KEY_MATERIAL.")
    if material_id in known:
        raise IncorrectKeyMaterialException(
            "This key material is already associated with the KMS key; import it with "
            "ImportType EXISTING_KEY_MATERIAL."
        )
    first = not known
    if not first and key.key_spec != "SYMMETRIC_DEFAULT":
        raise IncorrectKeyMaterialException(
            "The key material of an asymmetric or HMAC key cannot change after the first "
            "import; re-import the same key material."
        )
    if not first and any(m.state == MaterialState.PENDING_ROTATION for m in known.values()):
        raise KMSInvalidStateException(
            f"{env.keyring.arn(key.key_id)} already has key material pending rotation; rotate "
            "to it or delete it first."
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
        raise IncorrectKeyMaterialException(
            "The key material is not the key material previously imported under this key "
            "material id."
        )
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
            raise IncorrectKeyMaterialException(
                f"Key material {material_id} is not associated with the KMS key."
            )
        if row.sealed is not None:
            destroy_material(env, key, row)
    env.store.checkpoint()
    return {"KeyId": env.keyring.arn(key.key_id), "KeyMaterialId": row.material_id}


HANDLERS = {
    "GetParametersForImport": get_parameters_for_import,
    "ImportKeyMaterial": import_key_material,
    "DeleteImportedKeyMaterial": delete_imported_key_material,
}
