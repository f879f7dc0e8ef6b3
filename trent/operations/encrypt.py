"""Encryption: Encrypt, Decrypt, ReEncrypt — with symmetric keys (Trent's ciphertext blob,
encryption context as AAD) and with RSA keys (RSAES-OAEP, no context, KeyId required to
decrypt since an RSA ciphertext names no key)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trent.crypto import asymmetric, ciphertext
from trent.crypto.encryption_context import canonical
from trent.crypto.privatekey import PrivateKey
from trent.errors import KMSError, NotFoundException
from trent.errors import catalogue as errors
from trent.operations import external
from trent.operations.context import Call, Env, Request, Response, check_dry_run, offload
from trent.operations.keyring import LoadedMaterial
from trent.operations.keyuse import check_algorithm, key_for
from trent.store import KeyRow

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
IGNORE_CIPHERTEXT = "IGNORE_CIPHERTEXT"
# AWS answers InvalidCiphertextException with no message; this explanation goes to the audit
# record's errorMessage and the server log only.
_INVALID = "The ciphertext is invalid, was altered, or does not match the encryption context."


@dataclass(frozen=True, slots=True)
class Sealed:
    """What an encryption made: the blob, the key, the algorithm, and (symmetric keys) the
    material that made it."""

    blob: bytes
    key: KeyRow
    algorithm: str
    material_id: str | None


@dataclass(frozen=True, slots=True)
class Opened:
    plaintext: bytes
    key: KeyRow
    algorithm: str
    material_id: str | None
    # with ``rsa_later``, an RSA key's decryption still to run (``plaintext`` is then empty)
    later: Callable[[], bytes] | None = None


def usable_key(env: Env, call: Call, key_ref: str, operation: str) -> KeyRow:
    """A symmetric encryption key, resolved, authorized and checked (data keys, data key
    pairs: operations that only symmetric keys do)."""
    key = key_for(env, call, key_ref, operation, "ENCRYPT_DECRYPT")
    if key.key_spec != SYMMETRIC_DEFAULT:
        raise errors.WRONG_KEY_SPEC(
            arn=env.keyring.arn(key.key_id), spec=key.key_spec, operation=operation
        )
    return key


def seal_plaintext(
    env: Env, call: Call, key: KeyRow, plaintext: bytes, context: dict[str, str] | None
) -> tuple[bytes, LoadedMaterial]:
    """Encrypt under the current material of a symmetric key; for a key in an external key
    store, that ciphertext then through its proxy (``trent.operations.external``)."""
    material = env.keyring.current(key)
    assert material.aead is not None
    blob = ciphertext.encrypt(material.aead, material.header_prefix, plaintext, canonical(context))
    if key.custom_key_store_id is not None:
        blob = external.seal(env, call, key, blob)
    return blob, material


def _rsa(env: Env, key: KeyRow) -> PrivateKey:
    return env.keyring.private_key(key)


def encrypt_with(
    env: Env,
    call: Call,
    req: Request,
    key_member: str,
    algorithm_member: str,
    context_member: str,
    plaintext: bytes,
    operation: str,
) -> Sealed:
    key = key_for(env, call, req[key_member], operation, "ENCRYPT_DECRYPT")
    algorithm = str(req.get(algorithm_member) or SYMMETRIC_DEFAULT)
    check_algorithm(env, key, algorithm, "Encrypt")
    if key.key_spec == SYMMETRIC_DEFAULT:
        check_dry_run(req)
        blob, material = seal_plaintext(env, call, key, plaintext, req.get(context_member))
        return Sealed(blob, key, algorithm, material.material_id)
    if req.get(context_member):
        raise errors.CONTEXT_WITH_ASYMMETRIC()
    limit = asymmetric.max_plaintext(key.key_spec, algorithm)
    if len(plaintext) > limit:
        raise errors.PLAINTEXT_TOO_LARGE(algorithm=algorithm, spec=key.key_spec, limit=limit)
    check_dry_run(req)
    return Sealed(asymmetric.encrypt(_rsa(env, key), algorithm, plaintext), key, algorithm, None)


def decrypt_with(
    env: Env,
    call: Call,
    req: Request,
    key_member: str,
    algorithm_member: str,
    context_member: str,
    operation: str,
    rsa_later: bool = False,
) -> Opened:
    """Decrypt ``CiphertextBlob``: an RSA key when ``key_member`` names one, else the
    symmetric key and material the blob names. With ``rsa_later``, an RSA decryption is left
    in ``Opened.later``, every check done.

    A named key that cannot decrypt (an HMAC, signing or key agreement key) is AWS's
    ``IncorrectKeyException`` [LS-snap; issue 9]; a ciphertext that does not open is
    ``InvalidCiphertextException`` with no message."""
    blob = req["CiphertextBlob"]
    named = _named_decrypter(env, req, key_member)
    if named is not None and named.key_spec != SYMMETRIC_DEFAULT:
        key = key_for(env, call, req[key_member], operation, "ENCRYPT_DECRYPT")
        algorithm = str(req.get(algorithm_member) or SYMMETRIC_DEFAULT)
        check_algorithm(env, key, algorithm, "Decrypt")
        if req.get(context_member):
            raise errors.CONTEXT_WITH_ASYMMETRIC()
        private = _rsa(env, key)

        def opened() -> bytes:
            try:
                return asymmetric.decrypt(private, algorithm, blob)
            except asymmetric.CryptoError as exc:
                raise errors.INVALID_CIPHERTEXT(detail=_INVALID) from exc

        if rsa_later:
            return Opened(b"", key, algorithm, None, later=opened)
        return Opened(opened(), key, algorithm, None)
    algorithm = str(req.get(algorithm_member) or SYMMETRIC_DEFAULT)
    if algorithm != SYMMETRIC_DEFAULT:
        raise errors.ALGORITHM_NEEDS_KEY(algorithm=algorithm, member=key_member)
    outer = external.is_external_blob(blob)
    try:
        blob_key = external.blob_key_id(blob) if outer else ciphertext.parse_header(blob).key_id
    except (ciphertext.CiphertextError, ValueError) as exc:
        raise errors.INVALID_CIPHERTEXT(detail=f"{_INVALID} ({exc})") from exc
    if named is not None and named.key_id != blob_key:
        raise errors.INCORRECT_KEY(detail="the ciphertext was made under another key")
    try:
        # A named key is resolved as named (another account's through its key ARN).
        ref = req[key_member] if named is not None else env.keyring.ciphertext_ref(blob_key)
        key = key_for(env, call, ref, operation, "ENCRYPT_DECRYPT")
    except NotFoundException as exc:  # a deleted key, or a blob whose key id was altered
        raise errors.INVALID_CIPHERTEXT(detail=f"{_INVALID} (its key does not exist)") from exc
    if outer != (key.custom_key_store_id is not None):
        raise errors.INVALID_CIPHERTEXT(detail=f"{_INVALID} (not made by this key's store)")
    if outer:  # the proxy's layer first; then Trent's own, which names its material
        blob = external.open_outer(env, call, key, blob)
    try:
        header = ciphertext.parse_header(blob)
    except ciphertext.CiphertextError as exc:
        raise errors.INVALID_CIPHERTEXT(detail=f"{_INVALID} ({exc})") from exc
    if header.key_id != key.key_id:
        raise errors.INVALID_CIPHERTEXT(detail=f"{_INVALID} (the inner blob names another key)")
    material = env.keyring.materials(key).get(header.material_id)
    if material is None or material.aead is None:
        raise errors.INVALID_CIPHERTEXT(detail=f"{_INVALID} (its key material is gone)")
    try:
        plaintext = ciphertext.decrypt(material.aead, blob, canonical(req.get(context_member)))
    except ciphertext.CiphertextError as exc:
        raise errors.INVALID_CIPHERTEXT(detail=_INVALID) from exc
    return Opened(plaintext, key, algorithm, material.material_id)


def _named_decrypter(env: Env, req: Request, key_member: str) -> KeyRow | None:
    """The key ``key_member`` names, if any; one that cannot decrypt is refused."""
    if key_member not in req:
        return None
    named = env.keyring.resolve(req[key_member])
    if named.key_usage != "ENCRYPT_DECRYPT":
        raise errors.INCORRECT_KEY(detail=f"{named.key_id} has key usage {named.key_usage}")
    return named


def ignores_ciphertext(req: Request) -> bool:
    """``DryRun`` with ``DryRunModifiers: [IGNORE_CIPHERTEXT]``: KMS checks authorization only,
    without the ciphertext [API-ref Decrypt, ReEncrypt]."""
    return bool(req.get("DryRun")) and IGNORE_CIPHERTEXT in (req.get("DryRunModifiers") or [])


def dry_run_without_ciphertext(
    env: Env, call: Call, req: Request, key_member: str, operation: str
) -> KeyRow:
    """The IGNORE_CIPHERTEXT dry run: the named key is resolved, authorized and checked for
    its usage and state; then ``DryRunOperationException``. ``key_member`` is required."""
    if key_member not in req:
        entry = errors.KEY_ID_REQUIRED if key_member == "KeyId" else errors.SOURCE_KEY_ID_REQUIRED
        raise entry()
    named = _named_decrypter(env, req, key_member)
    assert named is not None
    return key_for(env, call, req[key_member], operation, "ENCRYPT_DECRYPT")


def require_ciphertext(req: Request) -> None:
    """The model leaves CiphertextBlob optional (for DryRunModifiers); otherwise required."""
    if "CiphertextBlob" not in req:
        raise errors.CIPHERTEXT_REQUIRED()


def _material(response: dict[str, Any], member: str, material_id: str | None) -> None:
    if material_id is not None:  # key material ids belong to symmetric keys
        response[member] = material_id


def encrypt(env: Env, call: Call, req: Request) -> Response:
    sealed = encrypt_with(
        env,
        call,
        req,
        "KeyId",
        "EncryptionAlgorithm",
        "EncryptionContext",
        req["Plaintext"],
        "Encrypt",
    )
    response: dict[str, Any] = {
        "CiphertextBlob": sealed.blob,
        "KeyId": env.keyring.arn(sealed.key.key_id),
        "EncryptionAlgorithm": sealed.algorithm,
        "KeyOrigin": sealed.key.origin,
    }
    _material(response, "KeyMaterialId", sealed.material_id)
    return response


def decrypt(env: Env, call: Call, req: Request) -> Response:
    if "Recipient" in req:
        raise errors.NO_RECIPIENT()
    if ignores_ciphertext(req):
        dry_run_without_ciphertext(env, call, req, "KeyId", "Decrypt")
        check_dry_run(req)
    require_ciphertext(req)
    opened = decrypt_with(
        env, call, req, "KeyId", "EncryptionAlgorithm", "EncryptionContext", "Decrypt", True
    )
    check_dry_run(req)
    response: dict[str, Any] = {
        "KeyId": env.keyring.arn(opened.key.key_id),
        "Plaintext": opened.plaintext,
        "EncryptionAlgorithm": opened.algorithm,
        "KeyOrigin": opened.key.origin,
    }
    _material(response, "KeyMaterialId", opened.material_id)
    later = opened.later
    if later is None:
        return response

    def decrypted() -> Response:  # an RSA private-key operation: off the event loop
        return {**response, "Plaintext": later()}

    return offload(call, decrypted)


def _same_key(env: Env, req: Request) -> bool | None:
    """``kms:ReEncryptOnSameKey``: whether ``DestinationKeyId`` names the key that encrypted
    the ciphertext (``SourceKeyId``'s key, else the one the blob's header names); None when
    either cannot be found (the operation then fails on its own)."""
    try:
        if "SourceKeyId" in req:
            source = env.keyring.resolve(req["SourceKeyId"]).key_id
        elif "CiphertextBlob" in req:
            source = ciphertext.parse_header(req["CiphertextBlob"]).key_id
        else:
            return None
        return env.keyring.resolve(req["DestinationKeyId"]).key_id == source
    except (KMSError, ciphertext.CiphertextError):
        return None


def re_encrypt(env: Env, call: Call, req: Request) -> Response:
    call.same_key = lambda: _same_key(env, req)
    if ignores_ciphertext(req):
        dry_run_without_ciphertext(env, call, req, "SourceKeyId", "ReEncryptFrom")
        key_for(env, call, req["DestinationKeyId"], "ReEncryptTo", "ENCRYPT_DECRYPT")
        check_dry_run(req)
    require_ciphertext(req)
    opened = decrypt_with(
        env,
        call,
        req,
        "SourceKeyId",
        "SourceEncryptionAlgorithm",
        "SourceEncryptionContext",
        "ReEncryptFrom",
    )
    sealed = encrypt_with(
        env,
        call,
        req,
        "DestinationKeyId",
        "DestinationEncryptionAlgorithm",
        "DestinationEncryptionContext",
        opened.plaintext,
        "ReEncryptTo",
    )
    response: dict[str, Any] = {
        "CiphertextBlob": sealed.blob,
        "SourceKeyId": env.keyring.arn(opened.key.key_id),
        "KeyId": env.keyring.arn(sealed.key.key_id),
        "SourceEncryptionAlgorithm": opened.algorithm,
        "DestinationEncryptionAlgorithm": sealed.algorithm,
        "KeyOrigin": sealed.key.origin,
    }
    _material(response, "SourceKeyMaterialId", opened.material_id)
    _material(response, "DestinationKeyMaterialId", sealed.material_id)
    return response


HANDLERS = {"Encrypt": encrypt, "Decrypt": decrypt, "ReEncrypt": re_encrypt}
