"""Which signature scheme a KMS key spec uses, with its identifiers in X.509/CMS and JOSE.

Sources: RFC 5758 (ECDSA with SHA-2: parameters absent), RFC 4055 (RSA PKCS#1 v1.5: NULL
parameters; RSASSA-PSS: RSASSA-PSS-params with MGF1 over the same hash and a salt as long as the
digest, which is what KMS's RSASSA_PSS_SHA_* use), RFC 8410 (Ed25519, parameters absent),
RFC 9881 (ML-DSA in X.509: id-ml-dsa-44/65/87, parameters absent, pure ML-DSA with an empty
context), RFC 7518 (JWS ES/RS/PS algorithms), RFC 8037 (EdDSA) and draft-ietf-cose-dilithium
(JOSE "ML-DSA-44/65/87").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asn1crypto import algos
from cryptography.hazmat.primitives import hashes


class SchemeError(ValueError):
    """The key spec or signing algorithm cannot be used for this purpose."""


ML_DSA_OIDS = {
    "ML_DSA_44": "2.16.840.1.101.3.4.3.17",
    "ML_DSA_65": "2.16.840.1.101.3.4.3.18",
    "ML_DSA_87": "2.16.840.1.101.3.4.3.19",
}
ED25519_OID = "1.3.101.112"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA_256": hashes.SHA256,
    "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}
_ASN1_HASH = {"SHA_256": "sha256", "SHA_384": "sha384", "SHA_512": "sha512"}
# The one algorithm each key spec signs with when none is asked for.
DEFAULT_ALGORITHMS = {
    "ECC_NIST_P256": "ECDSA_SHA_256",
    "ECC_NIST_P384": "ECDSA_SHA_384",
    "ECC_NIST_P521": "ECDSA_SHA_512",
    "RSA_2048": "RSASSA_PKCS1_V1_5_SHA_256",
    "RSA_3072": "RSASSA_PKCS1_V1_5_SHA_256",
    "RSA_4096": "RSASSA_PKCS1_V1_5_SHA_256",
    "ECC_NIST_EDWARDS25519": "ED25519_SHA_512",
    "ML_DSA_44": "ML_DSA_SHAKE_256",
    "ML_DSA_65": "ML_DSA_SHAKE_256",
    "ML_DSA_87": "ML_DSA_SHAKE_256",
}
_JOSE_CURVES = {"ECC_NIST_P256": "ES256", "ECC_NIST_P384": "ES384", "ECC_NIST_P521": "ES512"}


@dataclass(frozen=True)
class Scheme:
    """One key spec signing with one KMS algorithm.

    ``hash`` is the digest signed (sent to KMS as MessageType DIGEST) or None for the pure
    schemes (Ed25519, ML-DSA: the message itself goes to KMS); ``cms_digest`` is the CMS
    digestAlgorithm (SHA-512 for Ed25519, RFC 8419, and ML-DSA, RFC 9882).
    """

    key_spec: str
    algorithm: str

    @property
    def family(self) -> str:
        """'ecdsa', 'pkcs1', 'pss', 'ed25519' or 'mldsa'."""
        if self.algorithm.startswith("ECDSA"):
            return "ecdsa"
        if self.algorithm.startswith("RSASSA_PSS"):
            return "pss"
        if self.algorithm.startswith("RSASSA_PKCS1"):
            return "pkcs1"
        return "ed25519" if self.algorithm == "ED25519_SHA_512" else "mldsa"

    @property
    def hash(self) -> hashes.HashAlgorithm | None:
        if self.family in ("ed25519", "mldsa"):
            return None
        return _HASHES[self.algorithm[-7:]]()

    @property
    def cms_digest(self) -> hashes.HashAlgorithm:
        return self.hash or hashes.SHA512()

    @property
    def cms_digest_name(self) -> str:
        """asn1crypto's name of ``cms_digest`` ('sha256', 'sha384', 'sha512')."""
        return _ASN1_HASH[self.algorithm[-7:]] if self.hash else "sha512"

    def signature_algorithm(self) -> algos.SignedDigestAlgorithm:
        """The AlgorithmIdentifier of the signature in certificates, CSRs and SignerInfos."""
        family = self.family
        if family == "mldsa":
            return algos.SignedDigestAlgorithm({"algorithm": ML_DSA_OIDS[self.key_spec]})
        if family == "ed25519":
            return algos.SignedDigestAlgorithm({"algorithm": ED25519_OID})
        name = _ASN1_HASH[self.algorithm[-7:]]
        if family == "ecdsa":
            return algos.SignedDigestAlgorithm({"algorithm": f"{name}_ecdsa"})
        if family == "pkcs1":
            return algos.SignedDigestAlgorithm({"algorithm": f"{name}_rsa"})
        params: dict[str, Any] = {
            "hash_algorithm": {"algorithm": name},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": name}},
            "salt_length": self.cms_digest.digest_size,
            "trailer_field": "trailer_field_bc",
        }
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params})

    @property
    def jose(self) -> str:
        """The JWS "alg" (RFC 7518, RFC 8037, draft-ietf-cose-dilithium)."""
        family = self.family
        bits = self.algorithm[-3:]
        if family == "ecdsa":
            alg = _JOSE_CURVES.get(self.key_spec)
            if alg is None or alg[-3:] != bits:
                raise SchemeError(f"JWS has no algorithm for {self.algorithm} on {self.key_spec}")
            return alg
        if family == "pkcs1":
            return f"RS{bits}"
        if family == "pss":
            return f"PS{bits}"
        if family == "ed25519":
            return "EdDSA"
        return self.key_spec.replace("_", "-")


def scheme_for(key_spec: str, algorithm: str | None = None) -> Scheme:
    """The scheme of a key spec, with ``algorithm`` (a KMS SigningAlgorithm) or its default.
    SchemeError for a key spec that cannot sign or an algorithm it does not have."""
    default = DEFAULT_ALGORITHMS.get(key_spec)
    if default is None:
        raise SchemeError(f"{key_spec} keys cannot sign certificates here")
    chosen = algorithm or default
    scheme = Scheme(key_spec, chosen)
    fits = (
        chosen == default
        or (key_spec.startswith("RSA_") and chosen.startswith("RSASSA_") and chosen[-7:] in _HASHES)
        or (
            key_spec.startswith("ECC_NIST_P")
            and chosen.startswith("ECDSA_")
            and chosen[-7:] in _HASHES
        )
    )
    if not fits:
        raise SchemeError(f"{chosen} is not a signing algorithm of {key_spec} keys")
    return scheme


def jose_scheme(alg: str, key_spec: str) -> Scheme:
    """The scheme a JWS "alg" names for a key spec; SchemeError if they do not fit."""
    for algorithm in (DEFAULT_ALGORITHMS.get(key_spec), *_all_algorithms(key_spec)):
        if algorithm and Scheme(key_spec, algorithm).jose == alg:
            return Scheme(key_spec, algorithm)
    raise SchemeError(f'JWS alg "{alg}" does not fit a {key_spec} key')


def _all_algorithms(key_spec: str) -> list[str]:
    if key_spec.startswith("RSA_"):
        return [f"RSASSA_{p}_SHA_{n}" for p in ("PKCS1_V1_5", "PSS") for n in (256, 384, 512)]
    return []
