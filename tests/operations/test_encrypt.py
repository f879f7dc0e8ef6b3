"""Encrypt, Decrypt and ReEncrypt through boto3 against the session server.

AWS returns InvalidCiphertextException with no message at all; Trent gives one fixed, clear
message (README, "Where Trent differs") that says nothing about the blob or the context.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.expect import expect_error
from tests.server import TrentServer

HEADER = 81  # ciphertext version 2 (README, "Ciphertext format")
TAG = 16
INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."
DRY_RUN = "The request would have succeeded, but the DryRun option is set."


def invalid_ciphertext(kms: Any, **kwargs: Any) -> None:
    """Decrypt must answer InvalidCiphertextException, 400, with no message (as AWS does)."""
    with pytest.raises(ClientError) as info:
        kms.decrypt(**kwargs)
    err = info.value.response
    assert err["Error"]["Code"] == "InvalidCiphertextException", err["Error"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400, err["ResponseMetadata"]
    assert err["Error"].get("Message", "") == "", err["Error"]


def decrypt_failure(kms: Any, blob: bytes, **kwargs: Any) -> tuple[str, int]:
    """(error code, HTTP status) of a Decrypt that must fail."""
    with pytest.raises(ClientError) as info:
        kms.decrypt(CiphertextBlob=blob, **kwargs)
    err = info.value.response
    return str(err["Error"]["Code"]), int(err["ResponseMetadata"]["HTTPStatusCode"])


@pytest.fixture(scope="module")
def raw_kms(server: TrentServer) -> Any:
    """A client without botocore's own parameter validation, so the server's answers show."""
    config = Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"})
    return server.client(config=config)


def arn_of(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])


def current_material(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"])


def new_key(kms: Any) -> str:
    return str(kms.create_key(Description="encrypt test")["KeyMetadata"]["KeyId"])


# --- round trips -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 4096])
def test_round_trip(kms: Any, key_id: str, size: int) -> None:
    plaintext = os.urandom(size)
    arn = arn_of(kms, key_id)
    out = kms.encrypt(KeyId=key_id, Plaintext=plaintext)
    assert out["KeyId"] == arn
    assert out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = out["CiphertextBlob"]
    if size >= 16:
        assert plaintext not in blob
    # The documented layout: 81-byte header, then ciphertext and a 16-byte tag.
    assert len(blob) == HEADER + size + TAG
    assert blob[0] == 2
    assert blob[1:17] == uuid.UUID(key_id).bytes
    assert blob[17:49].hex() == current_material(kms, key_id)

    back = kms.decrypt(CiphertextBlob=blob)
    assert back["Plaintext"] == plaintext
    assert back["KeyId"] == arn
    assert back["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert back["KeyMaterialId"] == current_material(kms, key_id)


def test_two_encryptions_differ(kms: Any, key_id: str) -> None:
    first = kms.encrypt(KeyId=key_id, Plaintext=b"same")["CiphertextBlob"]
    second = kms.encrypt(KeyId=key_id, Plaintext=b"same")["CiphertextBlob"]
    assert first != second
    assert first[49:81] != second[49:81]  # a fresh request nonce (so derived key) each call
    assert kms.decrypt(CiphertextBlob=first)["Plaintext"] == b"same"
    assert kms.decrypt(CiphertextBlob=second)["Plaintext"] == b"same"


@pytest.mark.parametrize(
    ("size", "bound"),
    [(0, "greater than or equal to 1"), (4097, "less than or equal to 4096")],
)
def test_plaintext_length_bounds(raw_kms: Any, key_id: str, size: int, bound: str) -> None:
    message = expect_error(
        raw_kms.encrypt,
        "ValidationException",
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        f"Member must have length {bound}",
        KeyId=key_id,
        Plaintext=b"p" * size,
    )
    assert "ppp" not in message  # a sensitive value is never echoed


# --- the KeyId on Decrypt --------------------------------------------------------------------
def test_decrypt_with_key_id_as_id_arn_alias(kms: Any, key_id: str, alias_name: str) -> None:
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    arn = arn_of(kms, key_id)
    alias_arn = arn.split(":key/")[0] + ":" + alias_name
    blob = kms.encrypt(KeyId=alias_name, Plaintext=b"named")["CiphertextBlob"]
    for ref in (key_id, arn, alias_name, alias_arn):
        out = kms.decrypt(CiphertextBlob=blob, KeyId=ref)
        assert out["Plaintext"] == b"named", ref
        assert out["KeyId"] == arn, ref


def test_decrypt_with_another_keys_id(kms: Any, key_id: str, alias_name: str) -> None:
    other = new_key(kms)
    kms.create_alias(AliasName=alias_name, TargetKeyId=other)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"mine")["CiphertextBlob"]
    for ref in (other, arn_of(kms, other), alias_name):
        expect_error(
            kms.decrypt, "IncorrectKeyException", INCORRECT_KEY, CiphertextBlob=blob, KeyId=ref
        )


# --- encryption context ----------------------------------------------------------------------
def test_context_in_another_order_decrypts(kms: Any, key_id: str) -> None:
    context = {"tenant": "acme", "purpose": "invoices", "région": "é"}
    reordered = dict(reversed(list(context.items())))
    assert list(reordered) != list(context)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"ctx", EncryptionContext=context)
    out = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=reordered)
    assert out["Plaintext"] == b"ctx"


@pytest.mark.parametrize(
    "given",
    [
        None,  # missing
        {"tenant": "acme", "purpose": "invoices", "extra": "x"},  # extra pair
        {"tenant": "acme", "purpose": "payroll"},  # changed value
        {"tenant": "acme"},  # a pair missing
        {"tenant": "acme", "Purpose": "invoices"},  # keys are case-sensitive
        {"tenantpurpose": "acmeinvoices"},  # the same characters, other pairs
    ],
)
def test_wrong_context_is_invalid_ciphertext(
    kms: Any, key_id: str, given: dict[str, str] | None
) -> None:
    context = {"tenant": "acme", "purpose": "invoices"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"ctx", EncryptionContext=context)
    extra = {} if given is None else {"EncryptionContext": given}
    invalid_ciphertext(kms, CiphertextBlob=blob["CiphertextBlob"], **extra)


def test_context_given_only_on_decrypt_is_invalid(kms: Any, key_id: str) -> None:
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"none")["CiphertextBlob"]
    invalid_ciphertext(kms, CiphertextBlob=blob, EncryptionContext={"a": "b"})
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={})["Plaintext"] == b"none"


def test_length_prefixed_context(kms: Any, key_id: str) -> None:
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"a": "bc"})
    invalid_ciphertext(kms, CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"ab": "c"})


# --- tampering -------------------------------------------------------------------------------
def test_every_flipped_bit_is_invalid_ciphertext(kms: Any, key_id: str) -> None:
    context = {"k": "v"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=os.urandom(64), EncryptionContext=context)[
        "CiphertextBlob"
    ]
    positions = sorted(set(range(80)) | set(range(len(blob) - 20, len(blob))))
    failures = {}
    for pos in positions:
        tampered = bytearray(blob)
        tampered[pos] ^= 1 << (pos % 8)
        outcome = decrypt_failure(kms, bytes(tampered), EncryptionContext=context)
        if outcome != ("InvalidCiphertextException", 400):
            failures[pos] = outcome
    assert failures == {}
    # One representative also carries AWS's empty message.
    tampered = bytearray(blob)
    tampered[70] ^= 0x80
    invalid_ciphertext(kms, CiphertextBlob=bytes(tampered), EncryptionContext=context)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["KeyId"].endswith(key_id)


def test_every_truncation_is_invalid_ciphertext(kms: Any, key_id: str) -> None:
    blob = kms.encrypt(KeyId=key_id, Plaintext=os.urandom(40))["CiphertextBlob"]
    lengths = sorted(set(range(1, len(blob), 3)) | {16, 17, 48, 49, 60, 61, 62, len(blob) - 1})
    failures = {}
    for length in lengths:
        outcome = decrypt_failure(kms, blob[:length])
        if outcome != ("InvalidCiphertextException", 400):
            failures[length] = outcome
    # Appending a byte is tampering too.
    for suffix in (b"\x00", os.urandom(16)):
        outcome = decrypt_failure(kms, blob + suffix)
        if outcome != ("InvalidCiphertextException", 400):
            failures[-len(suffix)] = outcome
    assert failures == {}


@pytest.mark.parametrize(
    "blob",
    [b"\x01", b"\x00", os.urandom(32), os.urandom(200)],
    ids=["version-byte-only", "zero-byte", "random-32", "random-200"],
)
def test_garbage_is_invalid_ciphertext(kms: Any, blob: bytes) -> None:
    invalid_ciphertext(kms, CiphertextBlob=blob)


def test_blob_naming_an_unknown_key_is_invalid_ciphertext(kms: Any, key_id: str) -> None:
    """A well-formed blob naming a key that does not exist."""
    blob = bytearray(kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"])
    blob[1:17] = uuid.uuid4().bytes
    invalid_ciphertext(kms, CiphertextBlob=bytes(blob))


def test_blob_moved_to_another_key_is_invalid_ciphertext(kms: Any, key_id: str) -> None:
    """Another key's id spliced into the header: the header is authenticated."""
    other = new_key(kms)
    blob = bytearray(kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"])
    blob[1:17] = uuid.UUID(other).bytes
    invalid_ciphertext(kms, CiphertextBlob=bytes(blob))
    blob[17:49] = bytes.fromhex(current_material(kms, other))
    invalid_ciphertext(kms, CiphertextBlob=bytes(blob))


# --- key states ------------------------------------------------------------------------------
def test_decrypt_on_disabled_key(kms: Any, key_id: str) -> None:
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    kms.disable_key(KeyId=key_id)
    arn = arn_of(kms, key_id)
    expect_error(kms.decrypt, "DisabledException", f"{arn} is disabled.", CiphertextBlob=blob)
    expect_error(
        kms.encrypt, "DisabledException", f"{arn} is disabled.", KeyId=key_id, Plaintext=b"x"
    )
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_decrypt_on_pending_deletion_key(kms: Any, key_id: str) -> None:
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    arn = arn_of(kms, key_id)
    expect_error(
        kms.decrypt, "KMSInvalidStateException", f"{arn} is pending deletion.", CiphertextBlob=blob
    )


# --- algorithm and DryRun --------------------------------------------------------------------
def test_asymmetric_algorithm_on_symmetric_key(kms: Any, key_id: str) -> None:
    expect_error(
        kms.encrypt,
        "InvalidKeyUsageException",
        "RSAES_OAEP_SHA_256",
        KeyId=key_id,
        Plaintext=b"x",
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    expect_error(
        kms.decrypt,
        "InvalidKeyUsageException",
        "RSAES_OAEP_SHA_256",
        CiphertextBlob=blob,
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    out = kms.decrypt(CiphertextBlob=blob, EncryptionAlgorithm="SYMMETRIC_DEFAULT")
    assert out["Plaintext"] == b"x"


def test_dry_run(kms: Any, key_id: str) -> None:
    expect_error(
        kms.encrypt,
        "DryRunOperationException",
        DRY_RUN,
        KeyId=key_id,
        Plaintext=b"x",
        DryRun=True,
    )
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x", DryRun=False)["CiphertextBlob"]
    expect_error(kms.decrypt, "DryRunOperationException", DRY_RUN, CiphertextBlob=blob, DryRun=True)
    other = new_key(kms)
    expect_error(
        kms.re_encrypt,
        "DryRunOperationException",
        DRY_RUN,
        CiphertextBlob=blob,
        DestinationKeyId=other,
        DryRun=True,
    )


def test_dry_run_that_would_fail_reports_the_failure(kms: Any, key_id: str) -> None:
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    invalid_ciphertext(kms, CiphertextBlob=blob[:-1], DryRun=True)
    kms.disable_key(KeyId=key_id)
    expect_error(
        kms.encrypt, "DisabledException", "is disabled.", KeyId=key_id, Plaintext=b"x", DryRun=True
    )
    expect_error(kms.decrypt, "DisabledException", "is disabled.", CiphertextBlob=blob, DryRun=True)


# --- ReEncrypt -------------------------------------------------------------------------------
def test_re_encrypt_to_another_key_and_context(kms: Any, key_id: str) -> None:
    destination = new_key(kms)
    source_context = {"stage": "old"}
    destination_context = {"stage": "new", "owner": "ops"}
    plaintext = os.urandom(100)
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext=source_context)[
        "CiphertextBlob"
    ]
    source_material = current_material(kms, key_id)

    # The source context is required to open the source ciphertext.
    with pytest.raises(ClientError) as info:
        kms.re_encrypt(
            CiphertextBlob=blob,
            DestinationKeyId=destination,
            DestinationEncryptionContext=destination_context,
        )
    assert info.value.response["Error"]["Code"] == "InvalidCiphertextException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    out = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext=source_context,
        DestinationKeyId=destination,
        DestinationEncryptionContext=destination_context,
    )
    assert out["KeyId"] == arn_of(kms, destination)
    assert out["SourceKeyId"] == arn_of(kms, key_id)
    assert out["SourceKeyMaterialId"] == source_material
    assert out["DestinationKeyMaterialId"] == current_material(kms, destination)
    assert out["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert out["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    new_blob = out["CiphertextBlob"]
    assert new_blob[1:17] == uuid.UUID(destination).bytes

    back = kms.decrypt(CiphertextBlob=new_blob, EncryptionContext=destination_context)
    assert back["Plaintext"] == plaintext
    assert back["KeyId"] == arn_of(kms, destination)
    assert back["KeyMaterialId"] == out["DestinationKeyMaterialId"]
    invalid_ciphertext(kms, CiphertextBlob=new_blob, EncryptionContext=source_context)
    expect_error(
        kms.decrypt,
        "IncorrectKeyException",
        INCORRECT_KEY,
        CiphertextBlob=new_blob,
        EncryptionContext=destination_context,
        KeyId=key_id,
    )


def test_re_encrypt_with_the_right_source_key_id(kms: Any, key_id: str, alias_name: str) -> None:
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    destination = new_key(kms)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"s")["CiphertextBlob"]
    for ref in (key_id, arn_of(kms, key_id), alias_name):
        out = kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=ref, DestinationKeyId=destination)
        assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == b"s"


def test_re_encrypt_wrong_source_key_id(kms: Any, key_id: str) -> None:
    destination = new_key(kms)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"s")["CiphertextBlob"]
    expect_error(
        kms.re_encrypt,
        "IncorrectKeyException",
        INCORRECT_KEY,
        CiphertextBlob=blob,
        SourceKeyId=destination,
        DestinationKeyId=destination,
    )


def test_re_encrypt_to_disabled_destination(kms: Any, key_id: str) -> None:
    destination = new_key(kms)
    kms.disable_key(KeyId=destination)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"s")["CiphertextBlob"]
    expect_error(
        kms.re_encrypt,
        "DisabledException",
        f"{arn_of(kms, destination)} is disabled.",
        CiphertextBlob=blob,
        DestinationKeyId=destination,
    )


def test_re_encrypt_from_disabled_source(kms: Any, key_id: str) -> None:
    destination = new_key(kms)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"s")["CiphertextBlob"]
    kms.disable_key(KeyId=key_id)
    expect_error(
        kms.re_encrypt,
        "DisabledException",
        f"{arn_of(kms, key_id)} is disabled.",
        CiphertextBlob=blob,
        DestinationKeyId=destination,
    )


def test_re_encrypt_to_the_same_key_with_a_new_context(kms: Any, key_id: str) -> None:
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"same", EncryptionContext={"v": "1"})
    out = kms.re_encrypt(
        CiphertextBlob=blob["CiphertextBlob"],
        SourceEncryptionContext={"v": "1"},
        DestinationKeyId=key_id,
        DestinationEncryptionContext={"v": "2"},
    )
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"v": "2"})
    assert back["Plaintext"] == b"same"
    invalid_ciphertext(kms, CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"v": "1"})


# --- seed 003: responding to a compromised key -----------------------------------------------
def test_compromised_key_response(kms: Any, alias_name: str) -> None:
    compromised = new_key(kms)
    kms.create_alias(AliasName=alias_name, TargetKeyId=compromised)
    contexts = [{"object": f"file-{i}"} for i in range(3)]
    data_keys = [
        kms.generate_data_key(KeyId=alias_name, KeySpec="AES_256", EncryptionContext=c)
        for c in contexts
    ]
    for data_key in data_keys:
        assert data_key["KeyId"] == arn_of(kms, compromised)

    # 1. A new key, and the alias moves to it.
    replacement = new_key(kms)
    kms.update_alias(AliasName=alias_name, TargetKeyId=replacement)
    # 2. Re-encrypt every encrypted data key under the alias, now the new key.
    rewrapped = []
    for data_key, context in zip(data_keys, contexts, strict=True):
        out = kms.re_encrypt(
            CiphertextBlob=data_key["CiphertextBlob"],
            SourceEncryptionContext=context,
            DestinationKeyId=alias_name,
            DestinationEncryptionContext=context,
        )
        assert out["SourceKeyId"] == arn_of(kms, compromised)
        assert out["KeyId"] == arn_of(kms, replacement)
        rewrapped.append(out["CiphertextBlob"])
    # 3. Disable the compromised key.
    kms.disable_key(KeyId=compromised)
    # 4. The old blobs no longer decrypt; the re-encrypted ones give the same data keys.
    arn = arn_of(kms, compromised)
    for data_key, blob, context in zip(data_keys, rewrapped, contexts, strict=True):
        expect_error(
            kms.decrypt,
            "DisabledException",
            f"{arn} is disabled.",
            CiphertextBlob=data_key["CiphertextBlob"],
            EncryptionContext=context,
        )
        out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        assert out["Plaintext"] == data_key["Plaintext"]
        assert len(out["Plaintext"]) == 32
        assert out["KeyId"] == arn_of(kms, replacement)
        assert out["KeyMaterialId"] == current_material(kms, replacement)
