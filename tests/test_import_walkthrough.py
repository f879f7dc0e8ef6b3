"""The seed walkthroughs of bringing your own key, as a user types them: the real aws CLI and
the real ``openssl`` command line, each line run by bash in a scratch directory against the
session server.

- Seed 002, "How to use on-demand rotation for AWS KMS imported keys": every command of steps
  1 to 7 verbatim (``export X=$(aws kms ... | tee /dev/stderr | jq ...)`` included), checked
  against the outputs the post shows.
- Seed 001, the workshop's "Rotate the CMK was create by External Key Material": RSAES_OAEP_SHA_1
  with RSA_2048, ``openssl enc -d -base64 -A``, ``openssl rsautl`` (deprecated in OpenSSL 3.0,
  still there), an expiring import, then ``update-alias``.
- RSA_AES_KEY_WRAP_SHA_256 with the openssl commands of the AWS Developer Guide
  (``openssl enc -id-aes256-wrap-pad`` under an ephemeral AES-256 key, itself RSA-OAEP-SHA-256
  wrapped with ``openssl pkeyutl``).

``aws kms`` finds the server through its profile only (``AWS_PROFILE=trent``; the config file
carries ``endpoint_url``). Two differences from the seeds come from the installed aws CLI being
version 1: it prints timestamps as epoch numbers, and it sends a blob given as a command-line
string as that text, where v2 base64-decodes it; so a ciphertext captured with ``jq -r
.CiphertextBlob`` reaches ``aws kms decrypt`` through ``base64 -d`` and ``fileb://``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from tests.crypto import reference
from tests.server import TrentServer

BIN = Path(sys.executable).parent
DAY = 86400.0
MATERIAL_ID = re.compile(r"^[0-9a-f]{64}$")


class Shell:
    """bash in a scratch directory, with the environment a user of the seeds has."""

    def __init__(self, server: TrentServer, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(server.data_dir / "credentials")
        env["AWS_CONFIG_FILE"] = str(server.data_dir / "config")
        env["AWS_PROFILE"] = "trent"
        env["AWS_PAGER"] = ""
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        self.env = env
        self.cwd = cwd

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        assert "--endpoint-url" not in line
        return subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{line}"],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def ok(self, line: str) -> str:
        done = self.run(line)
        assert done.returncode == 0, (line, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr
        return done.stdout

    def json(self, line: str) -> Any:
        return json.loads(self.ok(line))

    def export(self, line: str) -> tuple[str, Any]:
        """Run ``export NAME=...`` as typed; keep NAME for later lines. Returns its value and
        what the command showed on stderr (``tee /dev/stderr``), parsed as JSON if it is."""
        name = line.split("=", 1)[0].removeprefix("export ").strip()
        done = self.run(f'{line}\nprintf "%s" "${{{name}}}"')
        assert done.returncode == 0, (line, done.returncode, done.stderr)
        assert done.stdout, f"{name} is empty: {done.stderr}"
        self.env[name] = done.stdout
        try:
            shown = json.loads(done.stderr) if done.stderr.strip() else None
        except ValueError:
            pytest.fail(f"{line}: not JSON on stderr: {done.stderr}")
        return done.stdout, shown

    def fails(self, line: str, error: str) -> str:
        done = self.run(line)
        assert done.returncode in (254, 255), (line, done.returncode, done.stdout)
        assert f"({error})" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        return done.stderr


@pytest.fixture
def sh(server: TrentServer, tmp_path: Path) -> Shell:
    assert (BIN / "aws").exists(), f"the aws CLI is not installed next to {sys.executable}"
    for tool in ("openssl", "jq", "base64", "xxd"):
        assert shutil.which(tool), f"{tool} is needed to type the seed walkthrough"
    return Shell(server, tmp_path)


def epoch(value: float | int | str) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(value).timestamp()


def open_blob(material: bytes, blob: bytes) -> bytes:
    """Decrypt a Trent ciphertext blob (no encryption context) with the imported material,
    outside Trent (tests/crypto/reference.py: the version-2 per-blob key derived with SP 800-108
    from the material, AES-256-GCM through pyca's low-level API)."""
    assert blob[0] == 2  # Trent writes version 2
    return reference.open_blob(material, blob)


def rsa_public_key(path: Path) -> rsa.RSAPublicKey:
    der = path.read_bytes()
    public = serialization.load_der_public_key(der)
    assert isinstance(public, rsa.RSAPublicKey)
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki == der  # a DER SubjectPublicKeyInfo, as AWS hands it out
    return public


def entries(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    # (The CLI follows NextMarker by itself and leaves Truncated out of what it prints.)
    assert "NextMarker" not in listing
    return {r["KeyMaterialId"]: r for r in listing["Rotations"]}


def test_on_demand_rotation_of_imported_keys_seed_002(sh: Shell, tmp_path: Path) -> None:
    # --- Step 1: create a key and import key material ---------------------------------------
    arn, created = sh.export(
        "export EXTERNAL_KEY1_ARN=$(aws kms create-key --origin EXTERNAL | tee /dev/stderr"
        " | jq -r .KeyMetadata.Arn)"
    )
    metadata = created["KeyMetadata"]
    assert arn == metadata["Arn"]
    assert re.match(r"^arn:aws:kms:us-east-1:\d{12}:key/[0-9a-f-]{36}$", arn)
    assert (metadata["KeyState"], metadata["Enabled"]) == ("PendingImport", False)
    assert (metadata["Origin"], metadata["KeySpec"]) == ("EXTERNAL", "SYMMETRIC_DEFAULT")
    assert metadata["Description"] == "" and metadata["MultiRegion"] is False
    assert "CurrentKeyMaterialId" not in metadata

    sh.ok('openssl rand 32 > "KeyMaterial1.bin"')
    material1 = (tmp_path / "KeyMaterial1.bin").read_bytes()
    assert len(material1) == 32

    def get_parameters(n: int) -> None:
        sh.export('export WRAPPING_ALGORITHM="RSAES_OAEP_SHA_256"')
        sh.export('export WRAPPING_KEY_SPEC="RSA_4096"')
        asked = time.time()
        _, params = sh.export(
            f"export KMS_PARAMETERS_FOR_IMPORTED_KEY_MATERIAL{n}=$("
            "aws kms get-parameters-for-import \\\n"
            '    --key-id "${EXTERNAL_KEY1_ARN}" \\\n'
            '    --wrapping-algorithm "${WRAPPING_ALGORITHM}" \\\n'
            '    --wrapping-key-spec "${WRAPPING_KEY_SPEC}" | tee /dev/stderr)'
        )
        assert params["KeyId"] == arn
        assert asked + DAY - 60 <= epoch(params["ParametersValidTo"]) <= time.time() + DAY + 60
        sh.export(
            f"export PUBLIC_KEY_FOR_IMPORTED_KEY_MATERIAL{n}=$(echo "
            f'"${{KMS_PARAMETERS_FOR_IMPORTED_KEY_MATERIAL{n}}}" | jq -r .PublicKey) '
        )
        sh.export(
            f"export IMPORT_TOKEN_FOR_IMPORTED_KEY_MATERIAL{n}=$(echo "
            f'"${{KMS_PARAMETERS_FOR_IMPORTED_KEY_MATERIAL{n}}}" | jq -r .ImportToken) '
        )
        sh.ok(
            f'echo "${{PUBLIC_KEY_FOR_IMPORTED_KEY_MATERIAL{n}}}" | base64 -d > '
            f'"WrappingKeyForKeyMaterial{n}.bin"'
        )
        sh.ok(
            f'echo "${{IMPORT_TOKEN_FOR_IMPORTED_KEY_MATERIAL{n}}}" | base64 -d > '
            f'"ImportTokenForKeyMaterial{n}.bin"'
        )
        assert rsa_public_key(tmp_path / f"WrappingKeyForKeyMaterial{n}.bin").key_size == 4096

    def wrap(n: int) -> None:
        sh.ok(
            f'openssl pkeyutl -encrypt -in "KeyMaterial{n}.bin" -out "WrappedKeyMaterial{n}.bin"'
            f' -inkey "WrappingKeyForKeyMaterial{n}.bin" -keyform DER -pubin -encrypt'
            " -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256"
            " -pkeyopt rsa_mgf1_md:sha256"
        )
        assert len((tmp_path / f"WrappedKeyMaterial{n}.bin").read_bytes()) == 512

    get_parameters(1)
    wrap(1)
    material1_id, imported = sh.export(
        'export KEY_MATERIAL1_ID=$(aws kms import-key-material --key-id "${EXTERNAL_KEY1_ARN}"'
        " --encrypted-key-material fileb://WrappedKeyMaterial1.bin"
        " --import-token fileb://ImportTokenForKeyMaterial1.bin"
        " --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE"
        ' --key-material-description "Q1 2025 key from HSM1"'
        ' | tee /dev/stderr | jq .KeyMaterialId | tr -d \\")'
    )
    assert imported == {"KeyId": arn, "KeyMaterialId": material1_id}
    assert MATERIAL_ID.match(material1_id)

    assert sh.ok('echo "${KEY_MATERIAL1_ID}"').strip() == material1_id
    metadata = sh.json('aws kms describe-key --key-id "${EXTERNAL_KEY1_ARN}"')["KeyMetadata"]
    assert (metadata["KeyState"], metadata["Enabled"]) == ("Enabled", True)
    assert metadata["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert metadata["CurrentKeyMaterialId"] == material1_id

    list_all = (
        'aws kms list-key-rotations --key-id "${EXTERNAL_KEY1_ARN}"'
        " --include-key-material ALL_KEY_MATERIAL"
    )
    listed = entries(sh.json(list_all))
    assert listed == {
        material1_id: {
            "KeyId": arn,
            "KeyMaterialId": material1_id,
            "KeyMaterialDescription": "Q1 2025 key from HSM1",
            "ImportState": "IMPORTED",
            "KeyMaterialState": "CURRENT",
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
        }
    }

    # --- Step 2: use the first key material -------------------------------------------------
    def generate_data_key(n: int, material_id: str, material: bytes) -> bytes:
        blob_b64, data_key = sh.export(
            f"export KEY1_CIPHERTEXT_BLOB{n}=$(aws kms generate-data-key"
            ' --key-id "${EXTERNAL_KEY1_ARN}" --number-of-bytes 32 | tee /dev/stderr'
            " | jq -r .CiphertextBlob)"
        )
        assert data_key["KeyId"] == arn
        assert data_key["KeyMaterialId"] == material_id
        assert data_key["CiphertextBlob"] == blob_b64
        plaintext = base64.b64decode(data_key["Plaintext"])
        assert len(plaintext) == 32
        # The data key is sealed under the very material openssl made, checked outside Trent.
        sh.ok(f'echo "${{KEY1_CIPHERTEXT_BLOB{n}}}" | base64 -d > Key1CiphertextBlob{n}.bin')
        blob = (tmp_path / f"Key1CiphertextBlob{n}.bin").read_bytes()
        assert open_blob(material, blob) == plaintext
        return plaintext

    def decrypt(n: int, material_id: str, plaintext: bytes) -> None:
        out = sh.json(f"aws kms decrypt --ciphertext-blob fileb://Key1CiphertextBlob{n}.bin")
        assert out["KeyId"] == arn
        assert out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        assert out["KeyMaterialId"] == material_id
        assert base64.b64decode(out["Plaintext"]) == plaintext

    data_key1 = generate_data_key(1, material1_id, material1)
    decrypt(1, material1_id, data_key1)

    # --- Step 3: import a second key material -----------------------------------------------
    sh.ok('openssl rand 32 > "KeyMaterial2.bin"')
    material2 = (tmp_path / "KeyMaterial2.bin").read_bytes()
    assert len(material2) == 32 and material2 != material1
    get_parameters(2)
    wrap(2)
    import2 = (
        'aws kms import-key-material --key-id "${EXTERNAL_KEY1_ARN}"'
        " --encrypted-key-material fileb://WrappedKeyMaterial2.bin"
        " --import-token fileb://ImportTokenForKeyMaterial2.bin"
        " --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE"
        ' --key-material-description "Q2 2025 key from HSM1"'
    )
    # "This call will fail if you omit the import-type parameter or set it to
    # EXISTING_KEY_MATERIAL."
    sh.fails(import2, "IncorrectKeyMaterialException")
    sh.fails(f"{import2} --import-type EXISTING_KEY_MATERIAL", "IncorrectKeyMaterialException")
    material2_id, imported = sh.export(
        f"export KEY_MATERIAL2_ID=$({import2} --import-type NEW_KEY_MATERIAL"
        ' | tee /dev/stderr | jq .KeyMaterialId | tr -d \\")'
    )
    assert imported == {"KeyId": arn, "KeyMaterialId": material2_id}
    assert MATERIAL_ID.match(material2_id) and material2_id != material1_id

    listed = entries(sh.json(list_all))
    assert list(listed) == [material1_id, material2_id]
    assert listed[material1_id]["KeyMaterialState"] == "CURRENT"
    assert listed[material2_id] == {
        "KeyId": arn,
        "KeyMaterialId": material2_id,
        "KeyMaterialDescription": "Q2 2025 key from HSM1",
        "ImportState": "IMPORTED",
        "KeyMaterialState": "PENDING_ROTATION",
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
    metadata = sh.json('aws kms describe-key --key-id "${EXTERNAL_KEY1_ARN}"')["KeyMetadata"]
    assert metadata["CurrentKeyMaterialId"] == material1_id

    # --- Step 4: on-demand rotation ---------------------------------------------------------
    before = time.time()
    rotated = sh.json('aws kms rotate-key-on-demand --key-id "${EXTERNAL_KEY1_ARN}"')
    assert rotated == {"KeyId": arn}
    status = sh.json('aws kms get-key-rotation-status --key-id "${EXTERNAL_KEY1_ARN}"')
    assert status["KeyRotationEnabled"] is False
    assert status["KeyId"] == arn  # as the post shows: the ARN it was given
    # OnDemandRotationStartDate shows only while a rotation is in progress; Trent's completes
    # within the request.
    assert "OnDemandRotationStartDate" not in status

    listed = entries(sh.json(list_all))
    assert listed[material1_id] == {
        "KeyId": arn,
        "KeyMaterialId": material1_id,
        "KeyMaterialDescription": "Q1 2025 key from HSM1",
        "ImportState": "IMPORTED",
        "KeyMaterialState": "NON_CURRENT",
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
    second = listed[material2_id]
    assert second["KeyMaterialState"] == "CURRENT" and second["ImportState"] == "IMPORTED"
    assert second["RotationType"] == "ON_DEMAND"
    assert before - 60 <= epoch(second["RotationDate"]) <= time.time() + 60
    metadata = sh.json('aws kms describe-key --key-id "${EXTERNAL_KEY1_ARN}"')["KeyMetadata"]
    assert metadata["CurrentKeyMaterialId"] == material2_id
    assert metadata["KeyState"] == "Enabled"

    # --- Step 5: the second material makes new ciphertext; each decrypts with its own -----------
    data_key2 = generate_data_key(2, material2_id, material2)
    decrypt(2, material2_id, data_key2)
    decrypt(1, material1_id, data_key1)

    # --- Step 6: delete the first material: the key is unusable -----------------------------
    deleted = sh.json(
        'aws kms delete-imported-key-material --key-id "${EXTERNAL_KEY1_ARN}"'
        ' --key-material-id "${KEY_MATERIAL1_ID}"'
    )
    assert deleted == {"KeyId": arn, "KeyMaterialId": material1_id}
    metadata = sh.json('aws kms describe-key --key-id "${EXTERNAL_KEY1_ARN}"')["KeyMetadata"]
    assert (metadata["KeyState"], metadata["Enabled"]) == ("PendingImport", False)
    assert metadata["CurrentKeyMaterialId"] == material2_id
    # As the post shows, a PendingImport key's metadata has no ExpirationModel.
    assert "ExpirationModel" not in metadata
    listed = entries(sh.json(list_all))
    # As the post shows: the deleted material is PENDING_IMPORT, with no ExpirationModel.
    assert listed[material1_id] == {
        "KeyId": arn,
        "KeyMaterialId": material1_id,
        "KeyMaterialDescription": "Q1 2025 key from HSM1",
        "ImportState": "PENDING_IMPORT",
        "KeyMaterialState": "NON_CURRENT",
    }
    assert listed[material2_id]["ImportState"] == "IMPORTED"
    assert listed[material2_id]["KeyMaterialState"] == "CURRENT"
    stderr = sh.fails(
        "aws kms decrypt --ciphertext-blob fileb://Key1CiphertextBlob2.bin",
        "KMSInvalidStateException",
    )
    assert f"{arn} is pending import." in stderr

    # --- Step 7: re-import (same wrapped material and token; ImportType omitted) -------------
    reimported = sh.json(
        'aws kms import-key-material --key-id "${EXTERNAL_KEY1_ARN}"'
        " --encrypted-key-material fileb://WrappedKeyMaterial1.bin"
        " --import-token fileb://ImportTokenForKeyMaterial1.bin"
        " --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE"
    )
    assert reimported == {"KeyId": arn, "KeyMaterialId": material1_id}
    listed = entries(sh.json(list_all))
    assert listed[material1_id] == {
        "KeyId": arn,
        "KeyMaterialId": material1_id,
        "KeyMaterialDescription": "Q1 2025 key from HSM1",
        "ImportState": "IMPORTED",
        "KeyMaterialState": "NON_CURRENT",
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
    assert listed[material2_id]["KeyMaterialState"] == "CURRENT"
    metadata = sh.json('aws kms describe-key --key-id "${EXTERNAL_KEY1_ARN}"')["KeyMetadata"]
    assert (metadata["KeyState"], metadata["Enabled"]) == ("Enabled", True)
    assert metadata["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert metadata["CurrentKeyMaterialId"] == material2_id
    decrypt(1, material1_id, data_key1)
    decrypt(2, material2_id, data_key2)


def test_workshop_external_key_and_alias_seed_001(sh: Shell, tmp_path: Path) -> None:
    # Before: the workshop's alias points at the CMK of an earlier module.
    suffix = uuid.uuid4().hex[:8]
    alias = f"alias/ImportedCMK-{suffix}"
    earlier = sh.json("aws kms create-key")["KeyMetadata"]["KeyId"]
    sh.ok(f"aws kms create-alias --alias-name {alias} --target-key-id {earlier}")

    # 1. a new External CMK
    created = sh.json("aws kms create-key --origin=EXTERNAL")["KeyMetadata"]
    key_id = created["KeyId"]
    assert (created["Origin"], created["KeyState"]) == ("EXTERNAL", "PendingImport")
    # 2. the wrapping parameters
    params = sh.json(
        f"aws kms get-parameters-for-import --key-id {key_id}  --wrapping-algorithm"
        " RSAES_OAEP_SHA_1 --wrapping-key-spec RSA_2048"
    )
    assert params["KeyId"] == created["Arn"]
    # 3.-4. PublicKey and ImportToken copied into pkey.b64 and token.b64 (vi, paste, :wq)
    (tmp_path / "pkey.b64").write_text(params["PublicKey"] + "\n")
    (tmp_path / "token.b64").write_text(params["ImportToken"] + "\n")
    # 5. decode them with OpenSSL
    sh.ok("openssl enc -d -base64 -A -in pkey.b64 -out pkey.bin")
    sh.ok("openssl enc -d -base64 -A -in token.b64 -out token.bin")
    assert rsa_public_key(tmp_path / "pkey.bin").key_size == 2048
    # 6. the key material
    sh.ok("openssl rand -out genkey.bin 32")
    material = (tmp_path / "genkey.bin").read_bytes()
    assert len(material) == 32
    # 7. wrap it (rsautl is deprecated in OpenSSL 3.0 and says so; it still works)
    sh.ok(
        "openssl rsautl -encrypt -in genkey.bin -oaep -inkey pkey.bin -keyform DER -pubin"
        " -out WrappedKeyMaterial.bin"
    )
    assert len((tmp_path / "WrappedKeyMaterial.bin").read_bytes()) == 256
    # 8. import, expiring at noon Pacific (the workshop's form) about 30 days from now
    pacific = timezone(timedelta(hours=-8))
    noon = (datetime.now(pacific) + timedelta(days=30)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    valid_to = noon.strftime("%Y-%m-%dT%H:%M:%S-08:00")
    imported = sh.json(
        f"aws kms import-key-material --key-id {key_id} --encrypted-key-material"
        " fileb://WrappedKeyMaterial.bin --import-token fileb://token.bin --expiration-model"
        f" KEY_MATERIAL_EXPIRES --valid-to {valid_to}"
    )
    assert imported["KeyId"] == created["Arn"]
    assert MATERIAL_ID.match(imported["KeyMaterialId"])
    # 9. the alias now names the External CMK
    sh.ok(f"aws kms update-alias --alias {alias} --target-key-id {key_id}")

    metadata = sh.json(f"aws kms describe-key --key-id {alias}")["KeyMetadata"]
    assert metadata["KeyId"] == key_id
    assert (metadata["KeyState"], metadata["Enabled"]) == ("Enabled", True)
    assert metadata["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert epoch(metadata["ValidTo"]) == noon.timestamp()
    assert metadata["CurrentKeyMaterialId"] == imported["KeyMaterialId"]
    sh.ok("echo -n 'workshop data' > data.txt")
    sh.ok(
        f"aws kms encrypt --key-id {alias} --plaintext fileb://data.txt --output text"
        " --query CiphertextBlob | base64 -d > data.enc"
    )
    assert open_blob(material, (tmp_path / "data.enc").read_bytes()) == b"workshop data"
    out = sh.json("aws kms decrypt --ciphertext-blob fileb://data.enc")
    assert out["KeyId"] == created["Arn"]
    assert out["KeyMaterialId"] == imported["KeyMaterialId"]
    aliases = sh.json(f"aws kms list-aliases --key-id {key_id}")["Aliases"]
    assert [a["AliasName"] for a in aliases] == [alias]


def test_rsa_aes_key_wrap_sha_256_with_openssl(sh: Shell, tmp_path: Path) -> None:
    key_id = sh.json("aws kms create-key --origin EXTERNAL")["KeyMetadata"]["KeyId"]
    params = sh.json(
        f"aws kms get-parameters-for-import --key-id {key_id}"
        " --wrapping-algorithm RSA_AES_KEY_WRAP_SHA_256 --wrapping-key-spec RSA_2048"
    )
    (tmp_path / "params.json").write_text(json.dumps(params))
    sh.ok("jq -r .PublicKey params.json | base64 -d > PublicKey.bin")
    sh.ok("jq -r .ImportToken params.json | base64 -d > ImportToken.bin")
    sh.ok("openssl rand -out PlaintextKeyMaterial.bin 32")
    sh.ok("openssl rand -out aes-key.bin 32")
    sh.ok(
        "openssl enc -id-aes256-wrap-pad -K \"$(xxd -p < aes-key.bin | tr -d '\\n')\""
        " -iv A65959A6 -in PlaintextKeyMaterial.bin -out key-material-wrapped.bin"
    )
    sh.ok(
        "openssl pkeyutl -encrypt -in aes-key.bin -out aes-key-wrapped.bin -inkey PublicKey.bin"
        " -keyform DER -pubin -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256"
        " -pkeyopt rsa_mgf1_md:sha256"
    )
    sh.ok("cat aes-key-wrapped.bin key-material-wrapped.bin > EncryptedKeyMaterial.bin")

    material = (tmp_path / "PlaintextKeyMaterial.bin").read_bytes()
    ephemeral = (tmp_path / "aes-key.bin").read_bytes()
    # openssl's wrap is RFC 5649 AES key wrap with padding (deterministic: same bytes).
    kwp = (tmp_path / "key-material-wrapped.bin").read_bytes()
    assert kwp == aes_key_wrap_with_padding(ephemeral, material)
    encrypted = (tmp_path / "EncryptedKeyMaterial.bin").read_bytes()
    assert len(encrypted) == 256 + 40 and encrypted.endswith(kwp)

    imported = sh.json(
        f"aws kms import-key-material --key-id {key_id}"
        " --encrypted-key-material fileb://EncryptedKeyMaterial.bin"
        " --import-token fileb://ImportToken.bin"
        " --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE"
    )
    metadata = sh.json(f"aws kms describe-key --key-id {key_id}")["KeyMetadata"]
    assert metadata["KeyState"] == "Enabled"
    assert metadata["CurrentKeyMaterialId"] == imported["KeyMaterialId"]
    assert metadata["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    sh.ok("echo -n 'wrapped twice' > data.txt")
    sh.ok(
        f"aws kms encrypt --key-id {key_id} --plaintext fileb://data.txt --output text"
        " --query CiphertextBlob | base64 -d > data.enc"
    )
    assert open_blob(material, (tmp_path / "data.enc").read_bytes()) == b"wrapped twice"
