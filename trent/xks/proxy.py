"""The four XKS proxy APIs as operations: parsed JSON in, JSON-ready dict out, no HTTP.

Source: AWS's "AWS KMS External Keystore (XKS) Proxy API Specification" (GetKeyMetadata,
Encrypt, Decrypt, GetHealthStatus). An external key is a Trent symmetric encryption key, named
by its key id, served only through a credential that names it: ``keySpec`` ``AES_256``,
``keyUsage`` ``["ENCRYPT", "DECRYPT"]``, ``keyStatus`` ``ENABLED`` when its key state is
``Enabled`` and ``DISABLED`` otherwise (Encrypt and Decrypt then answer
``InvalidStateException``).

Sizes: plaintext and ciphertext up to 4300 bytes, AAD up to 8192 (the spec's minimums; larger
is ``UnsupportedOperationException``), ``ciphertextMetadata`` at most 20 bytes, ARNs in
``requestMetadata`` up to 2048 characters. Every operation records what it touched in the
``XksCall`` (for the audit trail); plaintexts never enter it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trent import __version__
from trent.errors import KMSError
from trent.operations import Env
from trent.operations.keyring import LoadedMaterial
from trent.operations.states import KeyState
from trent.store import KeyRow
from trent.xks import cipher
from trent.xks.credentials import Credential
from trent.xks.errors import (
    AccessDeniedException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    InvalidStateException,
    KeyNotFoundException,
    UnsupportedOperationException,
    ValidationException,
    XksError,
)

MAX_PLAINTEXT = 4300
MAX_CIPHERTEXT = 4300
MAX_AAD = 8192
MAX_METADATA_VALUE = 2048  # ARNs up to 2048 characters (the spec)
MAX_METADATA_FIELDS = 32
ALGORITHM = "AES_GCM"
CDIV_ALGORITHM = "SHA_256"
HEALTH_PURPOSE = "xks-health"


class Api(StrEnum):
    """The spec's APIs, by the name the audit trail uses."""

    GET_KEY_METADATA = "GetKeyMetadata"
    ENCRYPT = "Encrypt"
    DECRYPT = "Decrypt"
    GET_HEALTH_STATUS = "GetHealthStatus"


# requestMetadata fields each API requires (the spec's "Request Payload Parameters").
REQUIRED_METADATA: dict[Api, tuple[str, ...]] = {
    Api.GET_KEY_METADATA: ("awsPrincipalArn", "kmsOperation", "kmsRequestId"),
    Api.ENCRYPT: ("awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"),
    Api.DECRYPT: ("awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"),
    Api.GET_HEALTH_STATUS: ("kmsOperation", "kmsRequestId"),
}


@dataclass(slots=True)
class XksCall:
    """One XKS request as the audit trail sees it (no plaintext, no key, no secret)."""

    api: Api
    external_key_id: str | None
    request_metadata: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    key_arn: str | None = None
    key_material_id: str | None = None


class XksProxy:
    """The operations over one worker's ``Env``; ``storage_fault`` says whether storage
    writes are failing (``StorageHealth.check``), for GetHealthStatus."""

    def __init__(self, env: Env, storage_fault: Callable[[], str | None]) -> None:
        self.env = env
        self.storage_fault = storage_fault

    def run(self, call: XksCall, credential: Credential, body: Any) -> dict[str, Any]:
        """Validate ``body`` (the parsed JSON) and run ``call.api``; raises ``XksError``."""
        if not isinstance(body, dict):
            raise ValidationException("The request body must be a JSON object.")
        call.request_metadata = _request_metadata(body, REQUIRED_METADATA[call.api])
        if call.api is Api.GET_HEALTH_STATUS:  # excluded from secondary authorization (spec)
            return self.health()
        refusal = credential.rules.refusal(call.request_metadata)
        if refusal is not None:
            raise AccessDeniedException(refusal)
        assert call.external_key_id is not None
        key = self._key(credential, call.external_key_id)
        call.key_arn = self.env.keyring.arn(key.key_id)
        if call.api is Api.GET_KEY_METADATA:
            return _key_metadata(key)
        if call.api is Api.ENCRYPT:
            return self.encrypt(call, key, body)
        return self.decrypt(call, key, body)

    def _key(self, credential: Credential, key_id: str) -> KeyRow:
        if key_id not in credential.key_ids:
            raise KeyNotFoundException(f"No external key {key_id} at this credential.")
        # the home region's keys (a KMS request may have left another region bound)
        self.env.bind(self.env.account_id, self.env.home_region or None)
        row = self.env.store.get_key(key_id)  # of any account: the credential named it
        if row is None:
            raise KeyNotFoundException(f"No external key {key_id}.")
        self.env.bind(row.account_id)  # act in the key's account, as a KMS caller of it would
        try:
            key = self.env.keyring.resolve(key_id, aliases=False)
        except KMSError:
            raise KeyNotFoundException(f"No external key {key_id}.") from None
        if key.key_spec != "SYMMETRIC_DEFAULT" or key.key_usage != "ENCRYPT_DECRYPT":
            raise InvalidKeyUsageException(f"Key {key_id} is not an AES_256 ENCRYPT/DECRYPT key.")
        return key

    def _enabled_material(self, key: KeyRow) -> LoadedMaterial:
        if key.state != KeyState.ENABLED:
            raise InvalidStateException(f"Key {key.key_id} is {key.state}, not Enabled.")
        try:
            return self.env.keyring.current(key)
        except KMSError:
            raise InvalidStateException(f"Key {key.key_id} has no usable key material.") from None

    def encrypt(self, call: XksCall, key: KeyRow, body: dict[str, Any]) -> dict[str, Any]:
        plaintext = _blob(body, "plaintext", required=True, limit=MAX_PLAINTEXT)
        aad = _blob(body, "additionalAuthenticatedData", limit=MAX_AAD)
        _algorithm(body, call)
        cdiv = body.get("ciphertextDataIntegrityValueAlgorithm")
        if cdiv is not None:
            if cdiv != CDIV_ALGORITHM:
                raise ValidationException(
                    f"ciphertextDataIntegrityValueAlgorithm must be {CDIV_ALGORITHM}."
                )
            call.parameters["ciphertextDataIntegrityValueAlgorithm"] = cdiv
        material = self._enabled_material(key)
        assert material.aead is not None
        call.key_material_id = material.material_id
        sealed = cipher.encrypt(material.aead, key.key_id, material.material_id, plaintext, aad)
        reply = {
            "ciphertext": _b64(sealed.ciphertext),
            "ciphertextMetadata": _b64(sealed.metadata),
            "initializationVector": _b64(sealed.iv),
            "authenticationTag": _b64(sealed.tag),
        }
        if cdiv is not None:
            # Appendix C: the value first, then a decrypt of exactly what is returned.
            reply["ciphertextDataIntegrityValue"] = _b64(cipher.integrity_value(aad, sealed))
            check = cipher.decrypt(material.aead, key.key_id, material.material_id, sealed, aad)
            if not hmac.compare_digest(check, plaintext):
                raise cipher.CipherError("the encrypt result did not decrypt")
        return reply

    def decrypt(self, call: XksCall, key: KeyRow, body: dict[str, Any]) -> dict[str, Any]:
        ciphertext = _blob(body, "ciphertext", required=True, limit=MAX_CIPHERTEXT)
        iv = _blob(body, "initializationVector", required=True, limit=16, over=_BadCiphertext)
        tag = _blob(body, "authenticationTag", required=True, limit=16, over=_BadCiphertext)
        metadata = _blob(
            body, "ciphertextMetadata", limit=cipher.MAX_METADATA_BYTES, over=ValidationException
        )
        aad = _blob(body, "additionalAuthenticatedData", limit=MAX_AAD)
        _algorithm(body, call)
        self._enabled_material(key)  # the key's state first, as for Encrypt
        try:
            prefix = cipher.material_prefix(metadata)
            materials = self.env.keyring.materials(key).values()
            found = [m for m in materials if m.material_id.startswith(prefix)]
            aead = found[0].aead if len(found) == 1 else None
            if aead is None:
                raise cipher.CipherError("no key material of this key matches")
            call.key_material_id = material_id = found[0].material_id
            sealed = cipher.Sealed(ciphertext, metadata, iv, tag)
            plaintext = cipher.decrypt(aead, key.key_id, material_id, sealed, aad)
        except cipher.CipherError as exc:
            raise _BadCiphertext(str(exc)) from None
        return {"plaintext": _b64(plaintext)}

    def health(self) -> dict[str, Any]:
        """A deep check: storage answers, and the barrier seals and opens (the root key works).
        ``ACTIVE``; ``DEGRADED`` while storage writes fail (reads, and so the crypto APIs,
        still work); ``UNAVAILABLE`` when the barrier or storage cannot be used."""
        status = "ACTIVE"
        try:
            self.env.store.get_meta(HEALTH_PURPOSE)  # one query: storage answers
            probe = self.env.barrier.seal(HEALTH_PURPOSE, "probe", b"xks health")
            if self.env.barrier.open(HEALTH_PURPOSE, "probe", probe) != b"xks health":
                status = "UNAVAILABLE"
        except Exception:
            status = "UNAVAILABLE"
        if status == "ACTIVE" and self.storage_fault() is not None:
            status = "DEGRADED"
        return {
            "xksProxyFleetSize": 1,
            "xksProxyVendor": "Trent",
            "xksProxyModel": f"Trent XKS Proxy {__version__}",
            "ekmVendor": "Trent",
            "ekmFleetDetails": [
                {
                    "id": f"trent-{self.env.account_id}-{self.env.region}",
                    "model": f"Trent {__version__} (SQLite, file seal)",
                    "healthStatus": status,
                }
            ],
        }


class _BadCiphertext(InvalidCiphertextException):
    """``InvalidCiphertextException`` with the spec's wording and the reason in brackets."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The request was rejected because the specified ciphertext, initialization vector, "
            "additional authenticated data or authentication tag is corrupted, missing, or "
            f"otherwise invalid ({reason})."
        )

    @property
    def name(self) -> str:
        return "InvalidCiphertextException"


def _key_metadata(key: KeyRow) -> dict[str, Any]:
    return {
        "keySpec": "AES_256",
        "keyUsage": ["ENCRYPT", "DECRYPT"],
        "keyStatus": "ENABLED" if key.state == KeyState.ENABLED else "DISABLED",
    }


def _request_metadata(body: dict[str, Any], required: tuple[str, ...]) -> dict[str, str]:
    """``requestMetadata``: an object whose required fields are present; string values only
    (each at most 2048 characters, at most 32 fields). kmsRequestId and kmsOperation are opaque
    (never checked for form: the spec forbids it)."""
    metadata = body.get("requestMetadata")
    if not isinstance(metadata, dict):
        raise ValidationException("requestMetadata is required and must be a JSON object.")
    if len(metadata) > MAX_METADATA_FIELDS:
        raise ValidationException(f"requestMetadata has more than {MAX_METADATA_FIELDS} fields.")
    kept: dict[str, str] = {}
    for name, value in metadata.items():
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE:
            raise ValidationException(
                f"requestMetadata.{name[:64]} must be a string of at most "
                f"{MAX_METADATA_VALUE} characters."
            )
        kept[name] = value
    for name in required:
        if not kept.get(name):
            raise ValidationException(f"requestMetadata.{name} is required.")
    return kept


def _blob(
    body: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    limit: int,
    over: type[XksError] = UnsupportedOperationException,
) -> bytes:
    """The bytes of a Base64 field: ``ValidationException`` when missing (and required), not a
    string or not Base64; ``over`` when longer than ``limit`` bytes."""
    value = body.get(name)
    if value is None:
        if required:
            raise ValidationException(f"{name} is required.")
        return b""
    if not isinstance(value, str):
        raise ValidationException(f"{name} must be a Base64 string.")
    if len(value) > 4 * ((limit + 2) // 3):
        raise over(f"{name} is longer than {limit} bytes.")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationException(f"{name} is not valid Base64.") from None
    if len(data) > limit:
        raise over(f"{name} is longer than {limit} bytes.")
    return data


def _algorithm(body: dict[str, Any], call: XksCall) -> None:
    algorithm = body.get("encryptionAlgorithm")
    if algorithm != ALGORITHM:
        raise ValidationException(f"encryptionAlgorithm must be {ALGORITHM}.")
    call.parameters["encryptionAlgorithm"] = algorithm


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
