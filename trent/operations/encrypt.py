"""Symmetric cryptography: Encrypt, Decrypt, ReEncrypt."""

from __future__ import annotations

from trent.crypto import ciphertext
from trent.crypto.encryption_context import canonical
from trent.errors import (
    IncorrectKeyException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    NotFoundException,
    ValidationException,
)
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.keyring import LoadedMaterial
from trent.operations.states import check_state
from trent.store import KeyRow

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
_INVALID = "The ciphertext is invalid, was altered, or does not match the encryption context."


def usable_key(env: Env, call: Call, key_ref: str, operation: str) -> KeyRow:
    """Resolve, authorize and check a symmetric encryption key for a cryptographic operation."""
    key = env.keyring.resolve(key_ref)
    env.authorize(call, operation, key)
    arn = env.keyring.arn(key.key_id)
    if key.key_usage != "ENCRYPT_DECRYPT":
        raise InvalidKeyUsageException(
            f"{arn} key usage is {key.key_usage} which is not valid for {operation}."
        )
    check_state(operation, key.state, arn)
    return key


def check_algorithm(request: Request, member: str) -> None:
    algorithm = request.get(member, SYMMETRIC_DEFAULT)
    if algorithm != SYMMETRIC_DEFAULT:
        raise InvalidKeyUsageException(
            f"Algorithm {algorithm} is not compatible with a symmetric encryption key."
        )


def seal_plaintext(
    env: Env, key: KeyRow, plaintext: bytes, context: dict[str, str] | None
) -> tuple[bytes, LoadedMaterial]:
    material = env.keyring.current(key)
    blob = ciphertext.encrypt(material.aead, material.header_prefix, plaintext, canonical(context))
    return blob, material


def open_ciphertext(
    env: Env,
    call: Call,
    blob: bytes,
    context: dict[str, str] | None,
    key_ref: str | None,
    operation: str,
) -> tuple[KeyRow, bytes, str]:
    """Find the key and material a blob names, check them, and decrypt: (key, plaintext, mid)."""
    try:
        header = ciphertext.parse_header(blob)
    except ciphertext.CiphertextError as exc:
        raise InvalidCiphertextException(_INVALID) from exc
    if key_ref is not None:
        named = env.keyring.resolve(key_ref)
        if named.key_id != header.key_id:
            raise IncorrectKeyException(
                "The key ID in the request does not identify a CMK that can perform this operation."
            )
    try:
        key = usable_key(env, call, header.key_id, operation)
    except NotFoundException as exc:  # a deleted key, or a blob whose key id was altered
        raise InvalidCiphertextException(_INVALID) from exc
    material = env.keyring.materials(key).get(header.material_id)
    if material is None:
        raise InvalidCiphertextException(_INVALID)
    try:
        plaintext = ciphertext.decrypt(material.aead, blob, canonical(context))
    except ciphertext.CiphertextError as exc:
        raise InvalidCiphertextException(_INVALID) from exc
    return key, plaintext, material.material_id


def encrypt(env: Env, call: Call, req: Request) -> Response:
    key = usable_key(env, call, req["KeyId"], "Encrypt")
    check_algorithm(req, "EncryptionAlgorithm")
    check_dry_run(req)
    blob, material = seal_plaintext(env, key, req["Plaintext"], req.get("EncryptionContext"))
    return {
        "CiphertextBlob": blob,
        "KeyId": env.keyring.arn(key.key_id),
        "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
        "KeyMaterialId": material.material_id,
        "KeyOrigin": key.origin,
    }


def decrypt(env: Env, call: Call, req: Request) -> Response:
    check_algorithm(req, "EncryptionAlgorithm")
    if "Recipient" in req:
        raise InvalidKeyUsageException("Trent does not support attested (Recipient) decryption.")
    require_ciphertext(req)
    key, plaintext, material_id = open_ciphertext(
        env,
        call,
        req["CiphertextBlob"],
        req.get("EncryptionContext"),
        req.get("KeyId"),
        "Decrypt",
    )
    check_dry_run(req)
    return {
        "KeyId": env.keyring.arn(key.key_id),
        "Plaintext": plaintext,
        "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
        "KeyMaterialId": material_id,
        "KeyOrigin": key.origin,
    }


def require_ciphertext(req: Request) -> None:
    """The model leaves CiphertextBlob optional (for DryRunModifiers); Trent requires it."""
    if "CiphertextBlob" not in req:
        raise ValidationException(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy "
            "constraint: Member must not be null"
        )


def re_encrypt(env: Env, call: Call, req: Request) -> Response:
    require_ciphertext(req)
    check_algorithm(req, "SourceEncryptionAlgorithm")
    check_algorithm(req, "DestinationEncryptionAlgorithm")
    source, plaintext, source_material_id = open_ciphertext(
        env,
        call,
        req["CiphertextBlob"],
        req.get("SourceEncryptionContext"),
        req.get("SourceKeyId"),
        "ReEncryptFrom",
    )
    destination = usable_key(env, call, req["DestinationKeyId"], "ReEncryptTo")
    check_dry_run(req)
    blob, material = seal_plaintext(
        env, destination, plaintext, req.get("DestinationEncryptionContext")
    )
    return {
        "CiphertextBlob": blob,
        "SourceKeyId": env.keyring.arn(source.key_id),
        "KeyId": env.keyring.arn(destination.key_id),
        "SourceEncryptionAlgorithm": SYMMETRIC_DEFAULT,
        "DestinationEncryptionAlgorithm": SYMMETRIC_DEFAULT,
        "SourceKeyMaterialId": source_material_id,
        "DestinationKeyMaterialId": material.material_id,
        "KeyOrigin": destination.origin,
    }


HANDLERS = {"Encrypt": encrypt, "Decrypt": decrypt, "ReEncrypt": re_encrypt}
