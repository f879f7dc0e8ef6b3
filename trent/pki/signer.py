"""A KMS asymmetric key as a signer: its public key from ``GetPublicKey``, its signatures from
``Sign`` (the private key stays in Trent).

Hashed schemes (ECDSA, RSA) send the digest as MessageType DIGEST, so any length can be signed.
Ed25519 sends the message itself (RAW, at most 4096 bytes, KMS's Message limit). ML-DSA sends
the message RAW when it fits in 4096 bytes and otherwise the FIPS 204 external mu (EXTERNAL_MU,
computed here from the public key with pyca's MLDSAMuHasher); both give the same pure ML-DSA
signature with an empty context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import mldsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from trent.pki.schemes import Scheme, scheme_for

MAX_RAW_MESSAGE = 4096  # bytes: the KMS Sign Message limit (botocore kms model)


class KmsError(RuntimeError):
    """A KMS call failed; the message is AWS's error code and message."""


def kms_client(
    endpoint_url: str | None = None, region: str | None = None, profile: str | None = None
) -> Any:
    """A boto3 KMS client from the AWS credential chain, as the aws CLI builds one
    (``--endpoint-url``, ``--region``, ``--profile``; the profile's endpoint_url also counts)."""
    import boto3

    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
        return session.client("kms", endpoint_url=endpoint_url)
    except BotoCoreError as exc:
        raise KmsError(str(exc)) from exc


def _call(method: Any, **params: Any) -> Any:
    try:
        return method(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise KmsError(f"{error.get('Code')}: {error.get('Message')}") from exc
    except BotoCoreError as exc:
        raise KmsError(str(exc)) from exc


@dataclass
class KmsSigner:
    """One KMS key (id, alias or ARN) and the scheme it signs with."""

    client: Any
    key_id: str
    algorithm: str | None = None
    spki_der: bytes = field(init=False, default=b"")
    arn: str = field(init=False, default="")
    scheme: Scheme = field(init=False)

    def __post_init__(self) -> None:
        reply = _call(self.client.get_public_key, KeyId=self.key_id)
        if reply.get("KeyUsage") != "SIGN_VERIFY":
            raise KmsError(f"{self.key_id} is not a SIGN_VERIFY key")
        self.spki_der = bytes(reply["PublicKey"])
        self.arn = str(reply["KeyId"])
        self.scheme = scheme_for(str(reply["KeySpec"]), self.algorithm)

    @property
    def public_key(self) -> PublicKeyTypes:
        return serialization.load_der_public_key(self.spki_der)

    def sign(self, message: bytes) -> bytes:
        """The signature of ``message`` under the scheme (ECDSA: DER), made by KMS Sign."""
        digest = self.scheme.hash
        if digest is not None:
            hasher = hashes.Hash(digest)
            hasher.update(message)
            return self._sign(hasher.finalize(), "DIGEST")
        if len(message) <= MAX_RAW_MESSAGE:
            return self._sign(message, "RAW")
        public = self.public_key
        if self.scheme.family != "mldsa" or not isinstance(
            public, mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
        ):
            raise KmsError(f"{self.scheme.algorithm} signs at most {MAX_RAW_MESSAGE} bytes")
        mu = mldsa.MLDSAMuHasher(public)
        mu.update(message)
        return self._sign(mu.finalize(), "EXTERNAL_MU")

    def _sign(self, message: bytes, message_type: str) -> bytes:
        reply = _call(
            self.client.sign,
            KeyId=self.key_id,
            Message=message,
            MessageType=message_type,
            SigningAlgorithm=self.scheme.algorithm,
        )
        return bytes(reply["Signature"])
