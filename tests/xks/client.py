"""An XKS proxy client written from AWS's "AWS KMS External Keystore (XKS) Proxy API
Specification", independent of Trent's code: botocore's ``SigV4Auth`` for service
``kms-xks-proxy`` and plain ``http.client``.

``KmsStyleAuth`` signs ``host;x-amz-date`` only, as the spec says AWS KMS does (Appendix A),
while still sending ``Content-Type: application/json``.
"""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "kms-xks-proxy"
PRINCIPAL = "arn:aws:iam::123456789012:user/Alice"
KMS_KEY_ARN = "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab"


class KmsStyleAuth(SigV4Auth):
    """SigV4 over ``host`` and ``x-amz-date`` only (the spec's ``SignedHeaders``)."""

    def headers_to_sign(self, request: AWSRequest) -> Any:
        every = super().headers_to_sign(request)
        for name in list(every.keys()):
            if name not in ("host", "x-amz-date"):
                del every[name]
        return every


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def error(self) -> str | None:
        return self.body.get("errorName")


@dataclass
class XksCredential:
    access_key_id: str
    secret: str
    uri_path: str


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def metadata(operation: str = "Encrypt", **extra: str) -> dict[str, str]:
    return {
        "awsPrincipalArn": PRINCIPAL,
        "kmsKeyArn": KMS_KEY_ARN,
        "kmsOperation": operation,
        "kmsRequestId": str(uuid.uuid4()),
        **extra,
    }


def admin(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trent", "admin", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
    )


def create_credential(data_dir: Path, *args: str) -> XksCredential:
    done = admin(data_dir, "create-xks-credential", *args)
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    return XksCredential(made["AccessKeyId"], made["RawSecretAccessKey"], made["XksProxyUriPath"])


@dataclass
class XksClient:
    endpoint: str  # http://host:port
    credential: XksCredential
    region: str = "us-west-2"
    service: str = SERVICE
    kms_style: bool = True

    def post(
        self,
        suffix: str,
        body: dict[str, Any] | bytes,
        *,
        method: str = "POST",
        sign: bool = True,
        secret: str | None = None,
        uri_path: str | None = None,
    ) -> Reply:
        """``method`` ``<uri_path><suffix>`` with ``body`` (JSON unless bytes), signed."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        url = self.endpoint + (uri_path or self.credential.uri_path) + suffix
        request = AWSRequest(
            method=method, url=url, data=data, headers={"Content-Type": "application/json"}
        )
        if sign:
            credentials = Credentials(
                self.credential.access_key_id, secret or self.credential.secret
            )
            signer = (KmsStyleAuth if self.kms_style else SigV4Auth)(
                credentials, self.service, self.region
            )
            signer.add_auth(request)
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            connection.request(method, parts.path, data, headers=dict(request.headers.items()))
            response = connection.getresponse()
            raw = response.read()
            headers = {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()
        return Reply(response.status, json.loads(raw) if raw else {}, headers)

    def health(self, **kwargs: Any) -> Reply:
        body = {
            "requestMetadata": {"kmsRequestId": str(uuid.uuid4()), "kmsOperation": "KmsHealthCheck"}
        }
        return self.post("/health", body, **kwargs)

    def key_metadata(self, key_id: str, **kwargs: Any) -> Reply:
        body = {"requestMetadata": metadata("CreateKey")}
        return self.post(f"/keys/{key_id}/metadata", body, **kwargs)

    def encrypt(
        self, key_id: str, plaintext: bytes, aad: bytes | None = None, cdiv: bool = True, **md: str
    ) -> Reply:
        body: dict[str, Any] = {
            "requestMetadata": metadata("Encrypt", **md),
            "plaintext": b64(plaintext),
            "encryptionAlgorithm": "AES_GCM",
        }
        if aad is not None:
            body["additionalAuthenticatedData"] = b64(aad)
        if cdiv:
            body["ciphertextDataIntegrityValueAlgorithm"] = "SHA_256"
        return self.post(f"/keys/{key_id}/encrypt", body)

    def decrypt(
        self, key_id: str, fields: dict[str, str], aad: bytes | None = None, **md: str
    ) -> Reply:
        body: dict[str, Any] = {
            "requestMetadata": metadata("Decrypt", **md),
            "encryptionAlgorithm": "AES_GCM",
            **{k: v for k, v in fields.items() if k != "ciphertextDataIntegrityValue"},
        }
        if aad is not None:
            body["additionalAuthenticatedData"] = b64(aad)
        return self.post(f"/keys/{key_id}/decrypt", body)
