"""Double encryption for keys in an external key store (Origin ``EXTERNAL_KEY_STORE``).

As the AWS KMS Developer Guide describes it ("External key stores", "Double encryption"): the
plaintext is first encrypted under the KMS key's own key material, held by Trent (an ordinary
Trent ciphertext blob, ``trent.crypto.ciphertext``, with the encryption context as AAD), and
that ciphertext is then encrypted by the external key store proxy under the external key. To
decrypt, the proxy decrypts the outer layer and Trent the inner one, so neither Trent's
material nor the external key alone can decrypt.

The outer blob (version 3)::

    offset  size  field
    0       1     version, 0x03
    1       16    key id (the UUID's 16 bytes)
    17      1     m, the length of the proxy's ciphertextMetadata (0..20)
    18      m     ciphertextMetadata
    18+m    1     v, the IV length the proxy used (12 or 16)
    19+m    v     initializationVector
    19+m+v  16    authenticationTag
    35+m+v  n     the proxy's ciphertext of the inner blob

The first 17 bytes are the ``additionalAuthenticatedData`` of the proxy call, so the outer layer
is bound to the key. Every failure of the proxy becomes AWS's exception for cryptographic
operations (``KMSInvalidStateException`` with the reason, ``KMSInternalException`` when the
proxy does not answer in time, ``InvalidCiphertextException`` when it refuses the ciphertext).
"""

from __future__ import annotations

import uuid

from trent.errors import KMSError
from trent.errors import catalogue as errors
from trent.operations.context import Call, Env
from trent.operations.keystores import proxy_client, request_metadata, store_of
from trent.store import KeyRow
from trent.xks.client import Encrypted, FailureKind, ProxyFailure

VERSION = 3
_VERSION_BYTE = bytes([VERSION])
_AAD_BYTES = 17
TAG_BYTES = 16
_INVALID = "The ciphertext is invalid, was altered, or does not match the encryption context."

_REASONS = {
    "InvalidStateException": "the external key is not enabled in the external key manager.",
    "KeyNotFoundException": "the external key was not found in the external key manager.",
    "AuthenticationFailedException": "the proxy authentication credential was not accepted.",
    "AccessDeniedException": "the proxy denied the request.",
    "InvalidKeyUsageException": "the external key does not support this operation.",
    "InvalidUriPathException": "the XksProxyUriPath is not valid for this proxy.",
    "ThrottlingException": "the proxy is throttling requests.",
}


def is_external_blob(blob: bytes) -> bool:
    return blob[:1] == _VERSION_BYTE


def blob_key_id(blob: bytes) -> str:
    """The key id an outer blob names; ``ValueError`` when it is too short."""
    if len(blob) < _AAD_BYTES + 1 + 1 + 12 + TAG_BYTES:
        raise ValueError("too short for an external key store ciphertext")
    return str(uuid.UUID(bytes=blob[1:_AAD_BYTES]))


def proxy_error(failure: ProxyFailure, *, decrypting: bool = False) -> KMSError:
    """The KMS exception a proxy failure in a cryptographic operation (or CreateKey) is."""
    detail = f"external key store proxy: {failure}"
    if failure.kind is FailureKind.TIMED_OUT:
        return errors.XKS_PROXY_TIMEOUT(detail=detail)
    if decrypting and failure.error_name == "InvalidCiphertextException":
        return errors.INVALID_CIPHERTEXT(detail=f"{_INVALID} ({detail})")
    if failure.kind in (FailureKind.UNREACHABLE, FailureKind.TLS):
        reason = "AWS KMS cannot communicate with the external key store proxy."
    elif failure.kind is FailureKind.INVALID_RESPONSE:
        reason = "its response could not be interpreted."
    else:
        reason = _REASONS.get(failure.error_name, f"it answered {failure.error_name}.")
    return errors.XKS_PROXY_REFUSED(reason=reason, detail=detail)


def seal(env: Env, call: Call, key: KeyRow, inner: bytes) -> bytes:
    """The outer blob: ``inner`` (Trent's own ciphertext) encrypted by the proxy."""
    assert key.custom_key_store_id is not None and key.xks_key_id is not None
    store = store_of(env, key)
    aad = _VERSION_BYTE + uuid.UUID(key.key_id).bytes
    metadata = request_metadata(call, env.keyring.arn(key.key_id))
    try:
        out = proxy_client(env, store).encrypt(key.xks_key_id, inner, aad, metadata)
    except ProxyFailure as failure:
        raise proxy_error(failure) from None
    return b"".join(
        (
            aad,
            bytes([len(out.metadata)]),
            out.metadata,
            bytes([len(out.iv)]),
            out.iv,
            out.tag,
            out.ciphertext,
        )
    )


def open_outer(env: Env, call: Call, key: KeyRow, blob: bytes) -> bytes:
    """The inner blob of an outer one, decrypted by the proxy; ``InvalidCiphertextException``
    when the blob is malformed."""
    assert key.custom_key_store_id is not None and key.xks_key_id is not None
    try:
        m = blob[_AAD_BYTES]
        at = _AAD_BYTES + 1
        metadata, at = blob[at : at + m], at + m
        v = blob[at]
        iv, at = blob[at + 1 : at + 1 + v], at + 1 + v
        tag, ciphertext = blob[at : at + TAG_BYTES], blob[at + TAG_BYTES :]
    except IndexError:
        raise errors.INVALID_CIPHERTEXT(detail=f"{_INVALID} (truncated)") from None
    if len(metadata) != m or len(iv) != v or len(tag) != TAG_BYTES or not ciphertext:
        raise errors.INVALID_CIPHERTEXT(detail=f"{_INVALID} (truncated)")
    store = store_of(env, key)
    sealed = Encrypted(ciphertext, metadata, iv, tag)
    request = request_metadata(call, env.keyring.arn(key.key_id))
    try:
        return proxy_client(env, store).decrypt(key.xks_key_id, sealed, blob[:_AAD_BYTES], request)
    except ProxyFailure as failure:
        raise proxy_error(failure, decrypting=True) from None
