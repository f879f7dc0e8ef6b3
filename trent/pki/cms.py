"""Detached CMS SignedData (RFC 5652) over a file, signed by a KMS key, and its verification.

The SignerInfo carries signed attributes (contentType id-data, messageDigest, signingTime) and
identifies the signer by issuer and serial number; KMS signs the DER of the signed attributes
(the SET OF, RFC 5652 section 5.4). The digest is SHA-256/384/512 as the key's scheme hashes, and
SHA-512 for the pure schemes: ML-DSA as RFC 9882 specifies it (pure ML-DSA, empty context,
signatureAlgorithm id-ml-dsa-* with absent parameters) and Ed25519 as RFC 8419 does. The
certificates (the signer's first, then the chain) are included. Built with asn1crypto.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa

from trent.pki.schemes import ED25519_OID, ML_DSA_OIDS
from trent.pki.signer import KmsSigner


class CmsError(ValueError):
    """The signature is malformed or does not verify (one line, for the command line)."""


class _DigestAlgorithm(algos.DigestAlgorithm):  # type: ignore[misc]
    """A digest AlgorithmIdentifier with absent parameters, as RFC 5754 section 2 says to
    generate them (asn1crypto's own writes NULL ones)."""

    _null_algos: frozenset[str] = frozenset()


class _Certificates(core.SetOf):  # type: ignore[misc]
    """SignedData's certificates, each kept as the DER it came as: asn1crypto would re-parse
    (and cannot parse) an ML-DSA SubjectPublicKeyInfo when it re-encodes a certificate."""

    _child_spec = core.Any


class _SignedData(cms.SignedData):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        (field[0], _Certificates, *field[2:]) if field[0] == "certificates" else field
        for field in cms.SignedData._fields
    ]


class _ContentInfo(cms.ContentInfo):  # type: ignore[misc]
    _oid_specs: ClassVar[dict[str, Any]] = {
        **cms.ContentInfo._oid_specs,
        "signed_data": _SignedData,
    }


_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _digest(name: str, data: bytes) -> bytes:
    if name not in _DIGESTS:
        raise CmsError(f"unsupported digest algorithm {name}")
    hasher = hashes.Hash(_DIGESTS[name]())
    hasher.update(data)
    return hasher.finalize()


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def sign_detached(
    signer: KmsSigner,
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    data: bytes,
    now: datetime.datetime | None = None,
) -> bytes:
    """The DER ContentInfo of a detached SignedData over ``data``. CmsError if the leaf
    certificate is not for the signer's key."""
    if (
        leaf.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        != signer.spki_der
    ):
        raise CmsError("--cert is not the certificate of --key-id's public key")
    scheme = signer.scheme
    digest_name = scheme.cms_digest_name
    digest_algorithm = _DigestAlgorithm({"algorithm": digest_name})
    signing_time = (now or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
    attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute(
                {"type": "signing_time", "values": [cms.Time({"utc_time": signing_time})]}
            ),
            cms.CMSAttribute({"type": "message_digest", "values": [_digest(digest_name, data)]}),
        ]
    )
    signature = signer.sign(attrs.dump())
    leaf_asn1 = asn1_x509.Certificate.load(_der(leaf))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": {
                        "issuer": leaf_asn1.issuer,
                        "serial_number": leaf_asn1.serial_number,
                    }
                }
            ),
            "digest_algorithm": digest_algorithm,
            "signed_attrs": attrs,
            "signature_algorithm": scheme.signature_algorithm(),
            "signature": signature,
        }
    )
    certificates = [core.Any.load(_der(c)) for c in (leaf, *chain)]
    signed_data = _SignedData(
        {
            "version": "v1",
            "digest_algorithms": [digest_algorithm],
            "encap_content_info": {"content_type": "data"},
            "certificates": certificates,
            "signer_infos": [signer_info],
        }
    )
    return bytes(_ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


@dataclass(frozen=True)
class Signed:
    """A verified detached signature: the signer's certificate and the other certificates."""

    signer: x509.Certificate
    certificates: list[x509.Certificate]
    signing_time: datetime.datetime | None


def signed_attributes_der(signer_info: cms.SignerInfo) -> bytes:
    """The DER the signature covers: the signed attributes as received, with the SET OF tag
    in place of [0] IMPLICIT (RFC 5652 section 5.4)."""
    return bytes(signer_info["signed_attrs"].untag().dump())


def load_signer_info(signature: bytes) -> tuple[Any, cms.SignerInfo]:
    """The SignedData and its one SignerInfo; CmsError if it is not a detached SignedData."""
    try:
        info = _ContentInfo.load(signature)
        if info["content_type"].native != "signed_data":
            raise CmsError("the signature is not a CMS SignedData")
        signed = info["content"]
        if signed["encap_content_info"]["content"].native is not None:
            raise CmsError("the signature is not detached")
        signer_infos = signed["signer_infos"]
        if len(signer_infos) != 1:
            raise CmsError(f"expected one signer, found {len(signer_infos)}")
        return signed, signer_infos[0]
    except (ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, CmsError):
            raise
        raise CmsError(f"the signature is not valid DER CMS: {exc}") from exc


def check_signature(
    public: object,
    algorithm: algos.SignedDigestAlgorithm,
    digest_name: str,
    message: bytes,
    signature: bytes,
) -> None:
    """Verify ``signature`` over ``message`` with pyca; CmsError if it does not verify."""
    oid = algorithm["algorithm"].dotted
    name = algorithm["algorithm"].native
    try:
        if oid in ML_DSA_OIDS.values() or oid == ED25519_OID:
            if not isinstance(
                public,
                mldsa.MLDSA44PublicKey
                | mldsa.MLDSA65PublicKey
                | mldsa.MLDSA87PublicKey
                | ed25519.Ed25519PublicKey,
            ):
                raise CmsError("the signature algorithm does not fit the signer's key")
            public.verify(signature, message)
        elif isinstance(public, ec.EllipticCurvePublicKey) and name.endswith("_ecdsa"):
            public.verify(signature, message, ec.ECDSA(_DIGESTS[name.split("_")[0]]()))
        elif isinstance(public, rsa.RSAPublicKey) and name == "rsassa_pss":
            params = algorithm["parameters"]
            hash_name = params["hash_algorithm"]["algorithm"].native
            pss = padding.PSS(
                mgf=padding.MGF1(_DIGESTS[hash_name]()), salt_length=params["salt_length"].native
            )
            public.verify(signature, message, pss, _DIGESTS[hash_name]())
        elif isinstance(public, rsa.RSAPublicKey) and (name.endswith("_rsa") or name == "rsa"):
            hash_name = digest_name if name == "rsa" else name.split("_")[0]
            public.verify(signature, message, padding.PKCS1v15(), _DIGESTS[hash_name]())
        else:
            raise CmsError(f"unsupported signature algorithm {name}")
    except InvalidSignature as exc:
        raise CmsError("the signature does not verify with the signer's certificate") from exc
    except KeyError as exc:
        raise CmsError(f"unsupported signature algorithm {name}") from exc


def verify_detached(
    signature: bytes, data: bytes, extra: Sequence[x509.Certificate] = ()
) -> Signed:
    """Check the signature over ``data`` (content type, message digest, the signature with the
    signer's certificate, found by issuer and serial among the included and ``extra``
    certificates). The chain is checked separately (trent.pki.chain). CmsError on failure."""
    signed, signer_info = load_signer_info(signature)
    certificates = []
    for encoded in signed["certificates"] or []:
        try:  # the other CertificateChoices (attribute certificates, ...) are not used here
            certificates.append(x509.load_der_x509_certificate(encoded.dump()))
        except ValueError:
            continue
    certificates += [c for c in extra if c not in certificates]
    sid = signer_info["sid"]
    if sid.name != "issuer_and_serial_number":
        raise CmsError("the signer is not identified by issuer and serial number")
    wanted = sid.chosen
    matches = [
        c
        for c in certificates
        if asn1_x509.Certificate.load(_der(c)).issuer.dump() == wanted["issuer"].dump()
        and c.serial_number == wanted["serial_number"].native
    ]
    if not matches:
        raise CmsError("the signer's certificate is neither included nor given")
    leaf = matches[0]
    attrs = signer_info["signed_attrs"]
    if not attrs:
        raise CmsError("the signature has no signed attributes")
    values = {a["type"].native: a["values"] for a in attrs}
    if len(values) != len(attrs):
        raise CmsError("a signed attribute appears twice")
    content_type = values.get("content_type")
    if content_type is None or [v.native for v in content_type] != ["data"]:
        raise CmsError("the signed content type is not id-data")
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    digest = values.get("message_digest")
    if digest is None or [v.native for v in digest] != [_digest(digest_name, data)]:
        raise CmsError("the file does not match the signed message digest")
    check_signature(
        leaf.public_key(),
        signer_info["signature_algorithm"],
        digest_name,
        signed_attributes_der(signer_info),
        signer_info["signature"].native,
    )
    times = values.get("signing_time")
    signing_time = times[0].native if times else None
    others = [c for c in certificates if c != leaf]
    return Signed(leaf, others, signing_time)
