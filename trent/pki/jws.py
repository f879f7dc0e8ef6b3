"""JSON Web Tokens (RFC 7519) as compact JWS (RFC 7515) signed by a KMS key.

Algorithms: ES256/ES384/ES512 (ECDSA on P-256/384/521, the signature as R || S, RFC 7518
section 3.4), RS256/384/512 and PS256/384/512 (RSA; KMS's PSS salt is the digest length, as
RFC 7518 section 3.5 requires), EdDSA (Ed25519, RFC 8037) and "ML-DSA-44"/"ML-DSA-65"/
"ML-DSA-87" (pure ML-DSA with an empty context, draft-ietf-cose-dilithium). The header is
{"alg", "typ": "JWT", "kid": the key's ARN}. Verification is offline with pyca: the "alg" must be
the public key's, and "exp"/"nbf" (NumericDate seconds) are checked when present.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from trent.pki.schemes import Scheme, SchemeError, jose_scheme
from trent.pki.signer import KmsSigner


class TokenError(ValueError):
    """The token is malformed, its signature does not verify, or it has expired (one line)."""


_CURVES = {"secp256r1": "ECC_NIST_P256", "secp384r1": "ECC_NIST_P384", "secp521r1": "ECC_NIST_P521"}
_MLDSA = {
    mldsa.MLDSA44PublicKey: "ML_DSA_44",
    mldsa.MLDSA65PublicKey: "ML_DSA_65",
    mldsa.MLDSA87PublicKey: "ML_DSA_87",
}

_PURE = (
    ed25519.Ed25519PublicKey,
    mldsa.MLDSA44PublicKey,
    mldsa.MLDSA65PublicKey,
    mldsa.MLDSA87PublicKey,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("the token is not base64url") from exc


def _coordinate_bytes(key_spec: str) -> int:
    return {"ECC_NIST_P256": 32, "ECC_NIST_P384": 48, "ECC_NIST_P521": 66}[key_spec]


def sign_token(signer: KmsSigner, claims: dict[str, Any], key_arn: str) -> str:
    """The compact JWS of ``claims``, signed inside KMS. SchemeError if JWS has no algorithm
    for the key (e.g. secp256k1)."""
    scheme = signer.scheme
    header = {"alg": scheme.jose, "typ": "JWT", "kid": key_arn}
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
    signature = signer.sign(signing_input.encode())
    if scheme.family == "ecdsa":
        r, s = utils.decode_dss_signature(signature)
        size = _coordinate_bytes(scheme.key_spec)
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return f"{signing_input}.{_b64(signature)}"


def key_spec_of(public: PublicKeyTypes) -> str:
    """The KMS key spec of a public key; TokenError for one JWS here cannot use."""
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in _CURVES:
        return _CURVES[public.curve.name]
    if isinstance(public, rsa.RSAPublicKey):
        return f"RSA_{public.key_size}"
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ECC_NIST_EDWARDS25519"
    for cls, spec in _MLDSA.items():
        if isinstance(public, cls):
            return spec
    raise TokenError("the public key is not one JWS here verifies with")


def _check(scheme: Scheme, public: PublicKeyTypes, message: bytes, signature: bytes) -> None:
    digest = scheme.hash
    if isinstance(public, ec.EllipticCurvePublicKey) and digest is not None:
        size = _coordinate_bytes(scheme.key_spec)
        if len(signature) != 2 * size:
            raise InvalidSignature
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        public.verify(utils.encode_dss_signature(r, s), message, ec.ECDSA(digest))
    elif isinstance(public, rsa.RSAPublicKey) and digest is not None:
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            if scheme.family == "pss"
            else padding.PKCS1v15()
        )
        public.verify(signature, message, pad, digest)
    elif isinstance(public, _PURE):
        public.verify(signature, message)
    else:
        raise InvalidSignature


def verify_token(token: str, public: PublicKeyTypes, now: float | None = None) -> dict[str, Any]:
    """The claims of a token that verifies with ``public``; TokenError otherwise."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise TokenError("the token is not a compact JWS (three base64url parts)")
    try:
        header = orjson.loads(_unb64(parts[0]))
        claims = orjson.loads(_unb64(parts[1]))
    except orjson.JSONDecodeError as exc:
        raise TokenError("the token's header or claims are not JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("the token's header and claims must be JSON objects")
    if header.get("crit"):
        raise TokenError("the token has critical header parameters this verifier does not know")
    try:
        scheme = jose_scheme(str(header.get("alg")), key_spec_of(public))
    except SchemeError as exc:
        raise TokenError(str(exc)) from exc
    try:
        _check(scheme, public, f"{parts[0]}.{parts[1]}".encode(), _unb64(parts[2]))
    except InvalidSignature as exc:
        raise TokenError("the token's signature does not verify") from exc
    current = time.time() if now is None else now
    if isinstance(claims.get("exp"), int | float) and current >= claims["exp"]:
        raise TokenError("the token has expired (exp)")
    if isinstance(claims.get("nbf"), int | float) and current < claims["nbf"]:
        raise TokenError("the token is not valid yet (nbf)")
    return claims
