"""Every entry of ``trent.errors.catalogue``, provoked through boto3 against a running server:
the exact code, HTTP 400, the exact message, and for the entries AWS sends without a message
a body that is ``{"__type": ...}`` alone (so the SDK shows an empty message)."""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.operations.test_imports import (
    DOES_NOT_EXPIRE,
    EXPIRES,
    NEW,
    OAEP_256,
    create_external,
    future,
    parameters,
    wrap,
)
from tests.server import TrentServer, free_port
from trent.errors import catalogue

ENTRIES = catalogue.catalogue()


@dataclass
class Case:
    """One provocation: ``call(kms)`` fails with ``entry``; ``fields`` fill its template.

    ``client`` makes the boto3 client to call with instead of the session's (another signer)."""

    call: Callable[[Any], Any]
    fields: dict[str, Any] = field(default_factory=dict)
    client: Callable[[TrentServer], Any] | None = None


class Raw:
    """The raw bodies of the client's replies (botocore hides an absent ``message``)."""

    def __init__(self, kms: Any) -> None:
        self.bodies: list[bytes] = []
        kms.meta.events.register("after-call.kms", self._keep)

    def _keep(self, http_response: Any, **_: Any) -> None:
        self.bodies.append(http_response.content)


@pytest.fixture(scope="module")
def raw(kms: Any) -> Raw:
    return Raw(kms)


def arn(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])


def key(kms: Any, **kwargs: Any) -> str:
    return str(kms.create_key(**kwargs)["KeyMetadata"]["KeyId"])


def sym(kms: Any) -> str:
    return key(kms)


def signer(kms: Any, spec: str = "ECC_NIST_P256") -> str:
    return key(kms, KeySpec=spec, KeyUsage="SIGN_VERIFY")


def hmac(kms: Any, spec: str = "HMAC_224") -> str:
    return key(kms, KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")


def disabled(kms: Any) -> str:
    key_id = sym(kms)
    kms.disable_key(KeyId=key_id)
    return key_id


def with_pending_material(kms: Any) -> tuple[str, str]:
    """An EXTERNAL key with a CURRENT material and one PENDING_ROTATION; (key id, pending)."""
    key_id = create_external(kms)
    for import_type in (None, NEW):
        params = parameters(kms, key_id)
        out = kms.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap(params["PublicKey"], OAEP_256, os.urandom(32)),
            ExpirationModel=DOES_NOT_EXPIRE,
            **({"ImportType": import_type} if import_type else {}),
        )
    return key_id, str(out["KeyMaterialId"])


def import_call(kms: Any, key_id: str, material: bytes | None = None, **kwargs: Any) -> Any:
    params = parameters(kms, key_id)
    return kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], OAEP_256, material or os.urandom(32)),
        **kwargs,
    )


def _invalid_key_id(kms: Any) -> Case:
    return Case(lambda k: k.describe_key(KeyId="fake-key-id"), {"key_ref": "fake-key-id"})


def _key_not_found(kms: Any) -> Case:
    missing = "mrk-" + uuid.uuid4().hex  # a valid multi-Region key id form [issue 9]
    full = arn(kms, sym(kms)).rsplit("/", 1)[0] + "/" + missing
    return Case(lambda k: k.describe_key(KeyId=missing), {"arn": full})


def _alias_not_found(kms: Any) -> Case:
    name = f"alias/missing-{uuid.uuid4().hex[:8]}"
    alias_arn = arn(kms, sym(kms)).split(":key/")[0] + ":" + name
    return Case(lambda k: k.encrypt(KeyId=name, Plaintext=b"x"), {"alias_arn": alias_arn})


def _invalid_arn(kms: Any) -> Case:
    ref = "arn:aws:s3:::bucket"
    return Case(lambda k: k.describe_key(KeyId=ref), {"key_ref": ref})


def _key_state(kms: Any) -> Case:
    key_id = create_external(kms)
    return Case(
        lambda k: k.encrypt(KeyId=key_id, Plaintext=b"x"),
        {"arn": arn(kms, key_id), "phrase": "pending import"},
    )


def _key_disabled(kms: Any) -> Case:
    key_id = disabled(kms)
    return Case(lambda k: k.rotate_key_on_demand(KeyId=key_id), {"arn": arn(kms, key_id)})


def _not_pending_deletion(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(lambda k: k.cancel_key_deletion(KeyId=key_id), {"arn": arn(kms, key_id)})


def _wrong_key_usage(kms: Any) -> Case:
    key_id = signer(kms)
    return Case(
        lambda k: k.encrypt(KeyId=key_id, Plaintext=b"x"),
        {"arn": arn(kms, key_id), "usage": "SIGN_VERIFY", "operation": "Encrypt"},
    )


def _wrong_key_spec(kms: Any) -> Case:
    key_id = key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    return Case(
        lambda k: k.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
        {"arn": arn(kms, key_id), "spec": "RSA_2048", "operation": "GenerateDataKey"},
    )


def _incompatible_algorithm(kms: Any) -> Case:
    key_id = hmac(kms, "HMAC_224")
    return Case(
        lambda k: k.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256"),
        {"algorithm": "HMAC_SHA_256", "spec": "HMAC_224"},
    )


def _incorrect_key(kms: Any) -> Case:
    blob = kms.encrypt(KeyId=sym(kms), Plaintext=b"x")["CiphertextBlob"]
    mac_key = hmac(kms)  # a key that cannot decrypt [issue 9]
    return Case(lambda k: k.decrypt(CiphertextBlob=blob, KeyId=mac_key))


def _invalid_ciphertext(kms: Any) -> Case:
    blob = kms.encrypt(KeyId=sym(kms), Plaintext=b"x", EncryptionContext={"a": "b"})
    return Case(lambda k: k.decrypt(CiphertextBlob=blob["CiphertextBlob"]))


def _plaintext_too_large(kms: Any) -> Case:
    key_id = key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    return Case(
        lambda k: k.encrypt(
            KeyId=key_id, Plaintext=b"x" * 191, EncryptionAlgorithm="RSAES_OAEP_SHA_256"
        ),
        {"algorithm": "RSAES_OAEP_SHA_256", "spec": "RSA_2048", "limit": 190},
    )


def _context_with_asymmetric(kms: Any) -> Case:
    key_id = key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    return Case(
        lambda k: k.encrypt(
            KeyId=key_id,
            Plaintext=b"x",
            EncryptionAlgorithm="RSAES_OAEP_SHA_256",
            EncryptionContext={"a": "b"},
        )
    )


def _algorithm_needs_key(kms: Any) -> Case:
    blob = kms.encrypt(KeyId=sym(kms), Plaintext=b"x")["CiphertextBlob"]
    return Case(
        lambda k: k.decrypt(CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
        {"algorithm": "RSAES_OAEP_SHA_256", "member": "KeyId"},
    )


def _ciphertext_required(kms: Any) -> Case:
    return Case(lambda k: k.decrypt(KeyId=sym(kms)))


def _key_id_required(kms: Any) -> Case:
    return Case(lambda k: k.decrypt(DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"]))


def _source_key_id_required(kms: Any) -> Case:
    destination = sym(kms)
    return Case(
        lambda k: k.re_encrypt(
            DestinationKeyId=destination, DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"]
        )
    )


def _dry_run(kms: Any) -> Case:
    key_id = sym(kms)  # IGNORE_CIPHERTEXT: no ciphertext needed [issue 9]
    return Case(
        lambda k: k.decrypt(KeyId=key_id, DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])
    )


def _no_recipient(kms: Any) -> Case:
    recipient = {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": b"x"}
    return Case(lambda k: k.generate_random(NumberOfBytes=8, Recipient=recipient))


def _bytes_and_spec(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(lambda k: k.generate_data_key(KeyId=key_id, KeySpec="AES_256", NumberOfBytes=8))


def _bytes_or_spec(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(lambda k: k.generate_data_key(KeyId=key_id))


def _number_of_bytes_required(kms: Any) -> Case:
    return Case(lambda k: k.generate_random())


def _custom_key_store_not_found(kms: Any) -> Case:
    return Case(
        lambda k: k.generate_random(NumberOfBytes=8, CustomKeyStoreId="cks-1234567890abcdef0"),
        {"store": "cks-1234567890abcdef0"},
    )


def _sm2_key_pair(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(lambda k: k.generate_data_key_pair(KeyId=key_id, KeyPairSpec="SM2"))


def _invalid_signature(kms: Any) -> Case:
    key_id = signer(kms)
    return Case(
        lambda k: k.verify(
            KeyId=key_id, Message=b"m", Signature=b"s" * 70, SigningAlgorithm="ECDSA_SHA_256"
        )
    )


def _invalid_mac(kms: Any) -> Case:
    key_id = hmac(kms, "HMAC_256")
    return Case(
        lambda k: k.verify_mac(
            KeyId=key_id, Message=b"m", Mac=b"x" * 32, MacAlgorithm="HMAC_SHA_256"
        )
    )


def _digest_length(kms: Any) -> Case:
    key_id = signer(kms)
    return Case(
        lambda k: k.sign(
            KeyId=key_id,
            Message=b"d" * 31,
            MessageType="DIGEST",
            SigningAlgorithm="ECDSA_SHA_256",
        ),
        {"algorithm": "ECDSA_SHA_256"},
    )


def _message_type_for_algorithm(kms: Any) -> Case:
    key_id = signer(kms, "ECC_NIST_EDWARDS25519")
    return Case(
        lambda k: k.sign(
            KeyId=key_id,
            Message=b"d" * 64,
            MessageType="DIGEST",
            SigningAlgorithm="ED25519_SHA_512",
        ),
        {"message_type": "DIGEST", "algorithm": "ED25519_SHA_512"},
    )


def _message_type_for_spec(kms: Any) -> Case:
    key_id = signer(kms, "ML_DSA_44")
    return Case(
        lambda k: k.sign(
            KeyId=key_id,
            Message=b"d" * 64,
            MessageType="DIGEST",
            SigningAlgorithm="ML_DSA_SHAKE_256",
        ),
        {"message_type": "DIGEST", "spec": "ML_DSA_44"},
    )


def _mu_length(kms: Any) -> Case:
    key_id = signer(kms, "ML_DSA_44")
    return Case(
        lambda k: k.sign(
            KeyId=key_id,
            Message=b"d" * 63,
            MessageType="EXTERNAL_MU",
            SigningAlgorithm="ML_DSA_SHAKE_256",
        ),
        {"algorithm": "ML_DSA_SHAKE_256"},
    )


def _invalid_public_key(kms: Any) -> Case:
    key_id = key(kms, KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")
    return Case(
        lambda k: k.derive_shared_secret(
            KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=b"junk"
        )
    )


def _no_public_key(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(
        lambda k: k.get_public_key(KeyId=key_id),
        {"arn": arn(kms, key_id), "spec": "SYMMETRIC_DEFAULT"},
    )


def _key_usage_required(kms: Any) -> Case:
    return Case(lambda k: k.create_key(KeySpec="HMAC_256"))


def _key_usage_for_spec(kms: Any) -> Case:
    return Case(
        lambda k: k.create_key(KeySpec="RSA_2048", KeyUsage="KEY_AGREEMENT"),
        {"usage": "KEY_AGREEMENT", "spec": "RSA_2048"},
    )


def _both_key_specs(kms: Any) -> Case:
    return Case(
        lambda k: k.create_key(
            KeySpec="RSA_2048", CustomerMasterKeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"
        )
    )


def _not_multi_region_primary(kms: Any) -> Case:
    key_id = key(kms)
    return Case(
        lambda k: k.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1"),
        {"arn": arn(kms, key_id)},
    )


def _arn_of_another_region(kms: Any) -> Case:
    other = arn(kms, key(kms)).replace(":us-east-1:", ":eu-west-1:")
    return Case(lambda k: k.describe_key(KeyId=other), {"region": "eu-west-1"})


def _replica_exists(kms: Any) -> Case:
    key_id = key(kms, MultiRegion=True)  # the primary is in the region already
    return Case(
        lambda k: k.replicate_key(KeyId=key_id, ReplicaRegion="us-east-1"),
        {"key_id": key_id, "region": "us-east-1"},
    )


def _region_not_served(kms: Any) -> Case:
    key_id = key(kms, MultiRegion=True)
    return Case(
        lambda k: k.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1"),
        {"region": "eu-west-1"},
    )


def _multi_region_custom_store(kms: Any) -> Case:
    return Case(
        lambda k: k.create_key(
            Origin="EXTERNAL_KEY_STORE",
            CustomKeyStoreId="cks-1234567890abcdef0",
            XksKeyId="some-external-key",
            MultiRegion=True,
        )
    )


def _custom_store_needs_origin(kms: Any) -> Case:
    return Case(lambda k: k.create_key(CustomKeyStoreId="cks-1234567890abcdef0"))


def _xks_key_required(kms: Any) -> Case:
    return Case(lambda k: k.create_key(Origin="EXTERNAL_KEY_STORE", XksKeyId="k1"))


_XKS_CREDENTIAL = {"AccessKeyId": "A" * 20, "RawSecretAccessKey": "b" * 43}


def _xks_store(**extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "CustomKeyStoreName": f"xks-{uuid.uuid4().hex[:8]}",
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "XksProxyUriEndpoint": f"http://127.0.0.1:{free_port()}",
        "XksProxyUriPath": "/kms/xks/v1",
        "XksProxyAuthenticationCredential": _XKS_CREDENTIAL,
    }
    options.update(extra)
    return {k: v for k, v in options.items() if v is not None}


def _cloudhsm_key_stores(kms: Any) -> Case:
    return Case(
        lambda k: k.create_custom_key_store(
            CustomKeyStoreName="hsm", CloudHsmClusterId="cluster-abcdefghijk"
        )
    )


def _vpc_connectivity(kms: Any) -> Case:
    return Case(
        lambda k: k.create_custom_key_store(
            **_xks_store(XksProxyConnectivity="VPC_ENDPOINT_SERVICE")
        )
    )


def _store_parameter_missing(kms: Any) -> Case:
    return Case(
        lambda k: k.create_custom_key_store(**_xks_store(XksProxyUriPath=None)),
        {"member": "XksProxyUriPath"},
    )


def _store_parameter_not_for_xks(kms: Any) -> Case:
    return Case(
        lambda k: k.create_custom_key_store(**_xks_store(KeyStorePassword="password")),
        {"member": "KeyStorePassword"},
    )


def _xks_endpoint_not_https(kms: Any) -> Case:
    return Case(
        lambda k: k.create_custom_key_store(**_xks_store(XksProxyUriEndpoint="http://192.0.2.1"))
    )


def _xks_unreachable(kms: Any) -> Case:
    return Case(lambda k: k.create_custom_key_store(**_xks_store()))


def _store_id_and_name(kms: Any) -> Case:
    return Case(
        lambda k: k.describe_custom_key_stores(
            CustomKeyStoreId="cks-1234567890abcdef0", CustomKeyStoreName="n"
        )
    )


def _store_name_not_found(kms: Any) -> Case:
    return Case(
        lambda k: k.describe_custom_key_stores(CustomKeyStoreName="no-such-store"),
        {"name": "no-such-store"},
    )


def _origin_unsupported(kms: Any) -> Case:
    return Case(lambda k: k.create_key(Origin="AWS_CLOUDHSM"), {"origin": "AWS_CLOUDHSM"})


def _key_spec_china(kms: Any) -> Case:
    return Case(lambda k: k.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY"))


def _policy_not_json(kms: Any) -> Case:
    return Case(lambda k: k.create_key(Policy="{not json"))


def _policy_no_statement(kms: Any) -> Case:
    return Case(lambda k: k.create_key(Policy="{}"))


def _no_such_policy(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(lambda k: k.get_key_policy(KeyId=key_id, PolicyName="AWS_RAM"), {"name": "AWS_RAM"})


def _ram_policy(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(lambda k: k.put_key_policy(KeyId=key_id, PolicyName="AWS_RAM", Policy="{}"))


def _pending_window(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(lambda k: k.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=6))


def _alias_prefix(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(lambda k: k.create_alias(AliasName="no-prefix", TargetKeyId=key_id))


def _alias_characters(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(
        lambda k: k.create_alias(AliasName="alias/a:b", TargetKeyId=key_id),
        {"name": "alias/a:b"},
    )


def _alias_reserved(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(lambda k: k.create_alias(AliasName="alias/aws/mine", TargetKeyId=key_id))


def _alias_exists(kms: Any) -> Case:
    key_id = sym(kms)
    name = f"alias/taken-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    alias_arn = arn(kms, key_id).split(":key/")[0] + ":" + name
    return Case(
        lambda k: k.create_alias(AliasName=name, TargetKeyId=key_id), {"alias_arn": alias_arn}
    )


def _alias_target_mismatch(kms: Any) -> Case:
    name = f"alias/mismatch-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=name, TargetKeyId=sym(kms))
    other = signer(kms)
    return Case(lambda k: k.update_alias(AliasName=name, TargetKeyId=other))


def _list_limit(kms: Any) -> Case:
    return Case(lambda k: k.list_aliases(Limit=101), {"limit": 100})


def _invalid_marker(kms: Any) -> Case:
    return Case(lambda k: k.list_keys(Marker="made-up"))


def _tag_reserved(kms: Any) -> Case:
    return Case(lambda k: k.create_key(Tags=[{"TagKey": "aws:x", "TagValue": "v"}]))


def _tag_duplicate(kms: Any) -> Case:
    tags = [{"TagKey": "same", "TagValue": "1"}, {"TagKey": "same", "TagValue": "2"}]
    return Case(lambda k: k.create_key(Tags=tags))


def _tag_too_many(kms: Any) -> Case:
    tags = [{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)]
    return Case(lambda k: k.create_key(Tags=tags))


def _tag_quota(kms: Any) -> Case:
    key_id = sym(kms)
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": f"k{i}", "TagValue": "v"} for i in range(50)])
    return Case(
        lambda k: k.tag_resource(KeyId=key_id, Tags=[{"TagKey": "one-more", "TagValue": "v"}]),
        {"limit": 50},
    )


def _origin_not_valid(kms: Any) -> Case:
    key_id = sym(kms)
    return Case(
        lambda k: k.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm=OAEP_256, WrappingKeySpec="RSA_2048"
        ),
        {"arn": arn(kms, key_id), "origin": "AWS_KMS"},
    )


def _rotation_unsupported_spec(kms: Any) -> Case:
    key_id = signer(kms)
    return Case(lambda k: k.rotate_key_on_demand(KeyId=key_id))


def _no_pending_rotation(kms: Any) -> Case:
    key_id = create_external(kms)
    import_call(kms, key_id, ExpirationModel=DOES_NOT_EXPIRE)
    return Case(lambda k: k.rotate_key_on_demand(KeyId=key_id), {"arn": arn(kms, key_id)})


def _rotation_limit(kms: Any) -> Case:
    key_id = sym(kms)
    for _ in range(25):
        kms.rotate_key_on_demand(KeyId=key_id)
    return Case(lambda k: k.rotate_key_on_demand(KeyId=key_id), {"arn": arn(kms, key_id)})


def _sm2_wrapping(kms: Any) -> Case:
    key_id = create_external(kms)
    return Case(
        lambda k: k.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="SM2PKE", WrappingKeySpec="SM2"
        )
    )


def _pkcs1_wrapping(kms: Any) -> Case:
    key_id = create_external(kms)
    return Case(
        lambda k: k.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_PKCS1_V1_5", WrappingKeySpec="RSA_2048"
        ),
        {"algorithm": "RSAES_PKCS1_V1_5"},
    )


def _invalid_import_token(kms: Any) -> Case:
    key_id = create_external(kms)
    params = parameters(kms, key_id)
    return Case(
        lambda k: k.import_key_material(
            KeyId=key_id,
            ImportToken=b"x" * 64,
            EncryptedKeyMaterial=wrap(params["PublicKey"], OAEP_256, os.urandom(32)),
            ExpirationModel=DOES_NOT_EXPIRE,
        )
    )


def _valid_to_required(kms: Any) -> Case:
    key_id = create_external(kms)
    return Case(lambda k: import_call(k, key_id))  # ExpirationModel defaults to EXPIRES


def _valid_to_past(kms: Any) -> Case:
    key_id = create_external(kms)
    return Case(lambda k: import_call(k, key_id, ExpirationModel=EXPIRES, ValidTo=future(-1)))


def _valid_to_too_late(kms: Any) -> Case:
    key_id = create_external(kms)
    return Case(lambda k: import_call(k, key_id, ExpirationModel=EXPIRES, ValidTo=future(366)))


def _valid_to_forbidden(kms: Any) -> Case:
    key_id = create_external(kms)
    return Case(
        lambda k: import_call(k, key_id, ExpirationModel=DOES_NOT_EXPIRE, ValidTo=future(9))
    )


def _material_id_with_new(kms: Any) -> Case:
    key_id = create_external(kms)
    return Case(
        lambda k: import_call(
            k, key_id, ExpirationModel=DOES_NOT_EXPIRE, ImportType=NEW, KeyMaterialId="a" * 64
        )
    )


def _material_already_imported(kms: Any) -> Case:
    key_id = create_external(kms)
    material = os.urandom(32)
    import_call(kms, key_id, material, ExpirationModel=DOES_NOT_EXPIRE)
    return Case(
        lambda k: import_call(k, key_id, material, ExpirationModel=DOES_NOT_EXPIRE, ImportType=NEW)
    )


def _another_pending_rotation(kms: Any) -> Case:
    key_id, pending = with_pending_material(kms)
    material = os.urandom(32)
    # The new material's id is derived by Trent: the test checks its form, the rest exactly.
    return Case(
        lambda k: import_call(k, key_id, material, ExpirationModel=DOES_NOT_EXPIRE, ImportType=NEW),
        {"key_id": key_id, "pending_id": pending, "new_id": "{new_id}"},
    )


def _material_not_associated(kms: Any) -> Case:
    key_id = create_external(kms)
    import_call(kms, key_id, ExpirationModel=DOES_NOT_EXPIRE)
    return Case(
        lambda k: k.delete_imported_key_material(KeyId=key_id, KeyMaterialId="b" * 64),
        {"material_id": "b" * 64},
    )


def _validation(kms: Any) -> Case:
    return Case(
        lambda k: k.list_keys(Limit=1001),
        {
            "count": 1,
            "errors": "error",
            "violations": "Value '1001' at 'limit' failed to satisfy constraint: Member must "
            "have value less than or equal to 1000",
        },
    )


def _missing_authentication(kms: Any) -> Case:
    unsigned = Config(signature_version=UNSIGNED, retries={"max_attempts": 1})
    return Case(lambda k: k.list_keys(), client=lambda s: s.client(config=unsigned))


def _invalid_security_token(kms: Any) -> Case:
    # A session token Trent did not issue [issue 9]
    return Case(
        lambda k: k.list_keys(), client=lambda s: s.client(aws_session_token="FwoGZXIvYXdzEXAMPLE")
    )


def _signature_mismatch(kms: Any) -> Case:
    return Case(
        lambda k: k.list_keys(), client=lambda s: s.client(aws_secret_access_key="not-the-secret")
    )


def _credential_scope(kms: Any) -> Case:
    return Case(
        lambda k: k.list_keys(),
        {"problems": catalogue.SCOPE_REGION},
        client=lambda s: s.client(region_name="ap-southeast-2"),
    )


CASES: dict[str, Callable[[Any], Case]] = {
    "INVALID_KEY_ID": _invalid_key_id,
    "KEY_NOT_FOUND": _key_not_found,
    "ALIAS_NOT_FOUND": _alias_not_found,
    "INVALID_ARN": _invalid_arn,
    "KEY_STATE": _key_state,
    "KEY_DISABLED": _key_disabled,
    "NOT_PENDING_DELETION": _not_pending_deletion,
    "WRONG_KEY_USAGE": _wrong_key_usage,
    "WRONG_KEY_SPEC": _wrong_key_spec,
    "INCOMPATIBLE_ALGORITHM": _incompatible_algorithm,
    "INCORRECT_KEY": _incorrect_key,
    "INVALID_CIPHERTEXT": _invalid_ciphertext,
    "PLAINTEXT_TOO_LARGE": _plaintext_too_large,
    "CONTEXT_WITH_ASYMMETRIC": _context_with_asymmetric,
    "ALGORITHM_NEEDS_KEY": _algorithm_needs_key,
    "CIPHERTEXT_REQUIRED": _ciphertext_required,
    "KEY_ID_REQUIRED": _key_id_required,
    "SOURCE_KEY_ID_REQUIRED": _source_key_id_required,
    "DRY_RUN": _dry_run,
    "NO_RECIPIENT": _no_recipient,
    "BYTES_AND_SPEC": _bytes_and_spec,
    "BYTES_OR_SPEC": _bytes_or_spec,
    "NUMBER_OF_BYTES_REQUIRED": _number_of_bytes_required,
    "CUSTOM_KEY_STORE_NOT_FOUND": _custom_key_store_not_found,
    "SM2_KEY_PAIR": _sm2_key_pair,
    "INVALID_SIGNATURE": _invalid_signature,
    "INVALID_MAC": _invalid_mac,
    "DIGEST_LENGTH": _digest_length,
    "MESSAGE_TYPE_FOR_ALGORITHM": _message_type_for_algorithm,
    "MESSAGE_TYPE_FOR_SPEC": _message_type_for_spec,
    "MU_LENGTH": _mu_length,
    "INVALID_PUBLIC_KEY": _invalid_public_key,
    "NO_PUBLIC_KEY": _no_public_key,
    "KEY_SPEC_CHINA": _key_spec_china,
    "KEY_USAGE_REQUIRED": _key_usage_required,
    "KEY_USAGE_FOR_SPEC": _key_usage_for_spec,
    "BOTH_KEY_SPECS": _both_key_specs,
    "ORIGIN_UNSUPPORTED": _origin_unsupported,
    "CUSTOM_STORE_NEEDS_ORIGIN": _custom_store_needs_origin,
    "XKS_KEY_REQUIRED": _xks_key_required,
    "CLOUDHSM_KEY_STORES": _cloudhsm_key_stores,
    "VPC_CONNECTIVITY": _vpc_connectivity,
    "STORE_PARAMETER_MISSING": _store_parameter_missing,
    "STORE_PARAMETER_NOT_FOR_XKS": _store_parameter_not_for_xks,
    "XKS_ENDPOINT_NOT_HTTPS": _xks_endpoint_not_https,
    "XKS_UNREACHABLE": _xks_unreachable,
    "STORE_ID_AND_NAME": _store_id_and_name,
    "STORE_NAME_NOT_FOUND": _store_name_not_found,
    "NOT_MULTI_REGION_PRIMARY": _not_multi_region_primary,
    "REPLICA_EXISTS": _replica_exists,
    "ARN_OF_ANOTHER_REGION": _arn_of_another_region,
    "REGION_NOT_SERVED": _region_not_served,
    "MULTI_REGION_CUSTOM_STORE": _multi_region_custom_store,
    "POLICY_NOT_JSON": _policy_not_json,
    "POLICY_NO_STATEMENT": _policy_no_statement,
    "NO_SUCH_POLICY": _no_such_policy,
    "RAM_POLICY": _ram_policy,
    "PENDING_WINDOW": _pending_window,
    "ALIAS_PREFIX": _alias_prefix,
    "ALIAS_CHARACTERS": _alias_characters,
    "ALIAS_RESERVED": _alias_reserved,
    "ALIAS_EXISTS": _alias_exists,
    "ALIAS_TARGET_MISMATCH": _alias_target_mismatch,
    "LIST_LIMIT": _list_limit,
    "INVALID_MARKER": _invalid_marker,
    "TAG_RESERVED": _tag_reserved,
    "TAG_DUPLICATE": _tag_duplicate,
    "TAG_TOO_MANY": _tag_too_many,
    "TAG_QUOTA": _tag_quota,
    "ORIGIN_NOT_VALID": _origin_not_valid,
    "ROTATION_UNSUPPORTED_SPEC": _rotation_unsupported_spec,
    "NO_PENDING_ROTATION": _no_pending_rotation,
    "ROTATION_LIMIT": _rotation_limit,
    "SM2_WRAPPING": _sm2_wrapping,
    "PKCS1_WRAPPING": _pkcs1_wrapping,
    "INVALID_IMPORT_TOKEN": _invalid_import_token,
    "VALID_TO_REQUIRED": _valid_to_required,
    "VALID_TO_PAST": _valid_to_past,
    "VALID_TO_TOO_LATE": _valid_to_too_late,
    "VALID_TO_FORBIDDEN": _valid_to_forbidden,
    "MATERIAL_ID_WITH_NEW": _material_id_with_new,
    "MATERIAL_ALREADY_IMPORTED": _material_already_imported,
    "ANOTHER_PENDING_ROTATION": _another_pending_rotation,
    "MATERIAL_NOT_ASSOCIATED": _material_not_associated,
    "VALIDATION": _validation,
    "MISSING_AUTHENTICATION": _missing_authentication,
    "INVALID_SECURITY_TOKEN": _invalid_security_token,
    "SIGNATURE_MISMATCH": _signature_mismatch,
    "CREDENTIAL_SCOPE": _credential_scope,
}

_SIGV4 = "botocore signs every request well (tests/protocol/test_sigv4.py)"
_SHAPES = "botocore validates types and base64 before sending (tests/protocol/test_shapes.py)"

# Entries no boto3 request against a healthy server of one account can reach; each is tested
# where it can be (the path named) or is Trent's own fault path.
_GRANTS = "tests/grants/test_grants.py"
_XKS = "provoked against a second Trent as the proxy (tests/xks/test_external_store.py)"
_BAD_PROXY = (
    "provoked against a misbehaving proxy process (bad_proxy.py): tests/xks/test_external_store.py"
)
_REGIONS = "needs a server with two regions: tests/operations/test_regions.py"


NOT_BY_BOTO3 = {
    "NOT_IMPLEMENTED": "every operation of the KMS model is implemented "
    "(tests/protocol/test_http.py::test_every_operation_of_the_model_is_implemented)",
    "STORE_NAME_IN_USE": _XKS,
    "STORE_URI_IN_USE": _XKS,
    "STORE_INVALID_STATE": _XKS,
    "STORE_HAS_KEYS": _XKS,
    "XKS_BAD_CREDENTIAL": _XKS,
    "XKS_INVALID_RESPONSE": _BAD_PROXY,
    "XKS_INVALID_CONFIGURATION": _XKS,
    "XKS_KEY_SPEC": _XKS,
    "RANDOM_FROM_EXTERNAL_STORE": _XKS,
    "XKS_KEY_NOT_FOUND": _XKS,
    "XKS_KEY_INVALID_CONFIGURATION": _XKS,
    "XKS_KEY_IN_USE": _XKS,
    "XKS_PROXY_REFUSED": _XKS,
    "XKS_PROXY_TIMEOUT": _BAD_PROXY,
    "NO_REPLICA_IN_REGION": _REGIONS,
    "REPLICA_ROTATION": _REGIONS,
    "MULTI_REGION_MATERIAL": _REGIONS,
    **{
        name: _GRANTS
        for name in (
            "GRANT_OPERATION_FOR_KEY",
            "GRANT_ONLY_CREATE_GRANT",
            "GRANT_CONSTRAINT_FOR_KEY",
            "GRANT_CONSTRAINT_BOTH",
            "GRANTEE_REQUIRED",
            "RETIRING_PRINCIPAL_ONE",
            "RETIRING_PRINCIPAL_REQUIRED",
            "GRANT_LIMIT",
            "INVALID_GRANT_TOKEN",
            "INVALID_GRANT_ID",
            "RETIRE_NEEDS_GRANT",
        )
    },
    "ACCESS_DENIED": "every principal of the server's account is allowed (tests/operations/"
    "test_authorization.py drives DenyAllAuthorizer)",
    "INTERNAL": "a fault of Trent itself (corrupt storage); HTTP 500",
    "DENIED_NO_RESOURCE_POLICY": "needs a second principal: tests/authz/test_walkthrough.py",
    "DENIED_NO_IDENTITY_POLICY": "needs an IAM user: tests/authz/test_walkthrough.py",
    "DENIED_NO_SESSION_POLICY": "needs a role session: tests/authz/test_walkthrough.py",
    "DENIED_BY_RESOURCE_POLICY": "tests/authz/test_walkthrough.py (deny over allow)",
    "DENIED_BY_IDENTITY_POLICY": "needs an IAM user: tests/authz/test_walkthrough.py",
    "DENIED_BY_SESSION_POLICY": "needs a role session: tests/authz/test_walkthrough.py",
    "POLICY_SYNTAX": "tests/authz/test_walkthrough.py (policy validation)",
    "POLICY_INVALID_PRINCIPAL": "tests/authz/test_walkthrough.py",
    "POLICY_TOO_LARGE": "tests/authz/test_walkthrough.py",
    "POLICY_LOCKOUT": "tests/authz/test_walkthrough.py",
    "EXPIRED_IMPORT_TOKEN": "needs the test clock: tests/operations/test_imports.py",
    "KEY_SPEC_UNSUPPORTED": "every KeySpec of the model is one Trent supports or SM2",
    "KEY_PAIR_SPEC_UNSUPPORTED": "every KeyPairSpec of the model is supported or SM2",
    "SPEC_UNSUPPORTED": "pyca supports every spec Trent creates",
    "ENCAPSULATION_ALGORITHM": "the model's enum has ML_KEM only",
    "RSA_NEEDS_KEY_WRAP": "tests/operations/test_asymmetric_import.py",
    "P521_NEEDS_KEY_WRAP": "tests/operations/test_asymmetric_import.py",
    "MATERIAL_CANNOT_CHANGE": "tests/operations/test_asymmetric_import.py",
    "NOT_THE_IMPORTED_MATERIAL": "tests/operations/test_imports.py",
    "ALIAS_QUOTA": "tests/operations/test_aliases.py",
    "UNKNOWN_OPERATION": "boto3 only sends the model's operations (tests/protocol/test_http.py)",
    "POST_ONLY": "boto3 only POSTs (tests/protocol/test_http.py)",
    "BODY_NOT_JSON": "boto3 always sends JSON (tests/protocol/test_http.py)",
    "BODY_TOO_LARGE": "the model's limits keep boto3 below it (tests/protocol/test_http.py)",
    "TYPE_MISMATCH": _SHAPES,
    "NOT_BASE64": _SHAPES,
    "NOT_TIMESTAMP": _SHAPES,
    "BODY_NOT_OBJECT": "boto3 always sends a JSON object (tests/protocol/test_shapes.py)",
    "PRESIGNED_UNSUPPORTED": "boto3 signs KMS calls with a header (tests/protocol/test_sigv4.py)",
    "UNSUPPORTED_ALGORITHM": _SIGV4,
    "AUTHORIZATION_INCOMPLETE": _SIGV4,
    "BAD_DATE": _SIGV4,
    "SIGNATURE_EXPIRED": "boto3 signs with the current time (tests/protocol/test_sigv4.py)",
    "SIGNATURE_NOT_YET_CURRENT": "boto3 signs with the current time (tests/protocol/test_sigv4.py)",
    "HOST_NOT_SIGNED": _SIGV4,
    "HEADER_NOT_SIGNED": _SIGV4,
    "CREDENTIAL_PARTS": _SIGV4,
    "CREDENTIAL_TERMINATOR": _SIGV4,
    "CONTENT_SHA256_MISMATCH": _SIGV4,
}
_TEST_FILE = re.compile(r"tests/[\w/]+\.py")


def test_every_entry_is_covered() -> None:
    """Each entry has a boto3 provocation here or a reason; a reason that names a test file
    names one that exists and provokes the entry (mentions its name, its code, or, for an
    entry with a message, the message's opening words)."""
    assert set(CASES) | set(NOT_BY_BOTO3) == set(ENTRIES)
    assert not set(CASES) & set(NOT_BY_BOTO3)
    root = Path(__file__).resolve().parent.parent
    for name, reason in NOT_BY_BOTO3.items():
        assert reason.strip(), name
        entry = ENTRIES[name]
        head = (entry.template or "").split("{", 1)[0][:40]
        for path in _TEST_FILE.findall(reason):
            text = (root / path).read_text()
            evidence = [name, entry.code] + ([head] if len(head) >= 12 else [])
            assert any(e in text for e in evidence), (name, path)


def test_every_entry_names_its_source() -> None:
    for name, entry in ENTRIES.items():
        assert entry.source.strip(), name
        assert entry.error.__name__.endswith("Exception"), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_entry_on_the_wire(name: str, server: TrentServer, kms: Any, raw: Raw) -> None:
    entry = ENTRIES[name]
    case = CASES[name](kms)
    client, bodies = kms, raw
    if case.client is not None:
        client = case.client(server)
        bodies = Raw(client)
    bodies.bodies.clear()
    with pytest.raises(ClientError) as info:
        case.call(client)
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == entry.error.status == 400
    assert err["Error"]["Code"] == entry.code, err["Error"]
    body = orjson.loads(bodies.bodies[-1])
    if entry.template is None:
        assert body == {"__type": entry.code}  # no message member at all, as AWS sends it
        assert err["Error"].get("Message", "") == ""
        return
    expected = entry.template.format(**case.fields)
    if "{new_id}" in expected:  # a material id Trent derives: check its form, then the rest
        head, tail = expected.split("{new_id}")
        got = body["message"]
        assert got.startswith(head) and got.endswith(tail), got
        assert len(got) - len(head) - len(tail) == 64
        return
    assert body == {"__type": entry.code, "message": expected}
    assert err["Error"]["Message"] == expected


# --- the items of issue 9 that are about more than one message ---------------------------------
def test_import_of_material_that_does_not_fit_is_invalid_ciphertext_without_message(
    kms: Any, raw: Raw
) -> None:
    for material in (os.urandom(16), os.urandom(33)):
        key_id = create_external(kms)
        raw.bodies.clear()
        with pytest.raises(ClientError) as info:
            import_call(kms, key_id, material, ExpirationModel=DOES_NOT_EXPIRE)
        assert info.value.response["Error"]["Code"] == "InvalidCiphertextException"
        assert orjson.loads(raw.bodies[-1]) == {"__type": "InvalidCiphertextException"}
    key_id = create_external(kms)
    params = parameters(kms, key_id)
    raw.bodies.clear()
    with pytest.raises(ClientError) as info:
        kms.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=b"\x01" * 256,
            ExpirationModel=DOES_NOT_EXPIRE,
        )
    assert orjson.loads(raw.bodies[-1]) == {"__type": "InvalidCiphertextException"}


def test_ignore_ciphertext_neither_requires_nor_checks_it(kms: Any) -> None:
    key_id, other = sym(kms), sym(kms)
    dry = {"DryRun": True, "DryRunModifiers": ["IGNORE_CIPHERTEXT"]}
    for call, kwargs in (
        (kms.decrypt, {"KeyId": key_id}),
        (kms.decrypt, {"KeyId": key_id, "CiphertextBlob": b"not a ciphertext"}),
        (kms.re_encrypt, {"SourceKeyId": key_id, "DestinationKeyId": other}),
        (
            kms.re_encrypt,
            {"SourceKeyId": key_id, "DestinationKeyId": other, "CiphertextBlob": b"junk"},
        ),
    ):
        with pytest.raises(ClientError) as info:
            call(**kwargs, **dry)
        assert info.value.response["Error"] == {
            "Code": "DryRunOperationException",
            "Message": catalogue.DRY_RUN.template,
        }
    # Without the modifier, the ciphertext is checked as ever.
    with pytest.raises(ClientError) as info:
        kms.decrypt(KeyId=key_id, CiphertextBlob=b"not a ciphertext", DryRun=True)
    assert info.value.response["Error"]["Code"] == "InvalidCiphertextException"


def test_re_encrypt_source_that_cannot_decrypt_is_incorrect_key(kms: Any) -> None:
    blob = kms.encrypt(KeyId=sym(kms), Plaintext=b"x")["CiphertextBlob"]
    for source in (hmac(kms), signer(kms)):
        with pytest.raises(ClientError) as info:
            kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=source, DestinationKeyId=sym(kms))
        assert info.value.response["Error"] == {
            "Code": "IncorrectKeyException",
            "Message": catalogue.INCORRECT_KEY.template,
        }


def test_disabled_comes_before_spec_and_origin_on_rotate_key_on_demand(kms: Any) -> None:
    for key_id in (signer(kms), create_external(kms)):
        if kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled":
            kms.disable_key(KeyId=key_id)
            expected = {"Code": "DisabledException", "Message": f"{arn(kms, key_id)} is disabled."}
        else:  # PendingImport: the key state comes first there too
            expected = {
                "Code": "KMSInvalidStateException",
                "Message": f"{arn(kms, key_id)} is pending import.",
            }
        with pytest.raises(ClientError) as info:
            kms.rotate_key_on_demand(KeyId=key_id)
        assert info.value.response["Error"] == expected


def test_key_id_forms_in_responses(kms: Any) -> None:
    key_id = sym(kms)
    key_arn = arn(kms, key_id)
    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == key_arn
    # GetKeyRotationStatus names the key as the caller did (aws CLI example; seed 002)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyId"] == key_id
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyId"] == key_arn
    assert kms.get_key_last_usage(KeyId=key_arn)["KeyId"] == key_id
    assert kms.encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"] == key_arn


def test_key_without_usable_material_answers_its_state_not_500(
    server: TrentServer, kms: Any
) -> None:
    """Issue 9 item 12: an EXTERNAL key whose current copy vanished under a request (here: the
    row's sealed bytes removed behind the server's back) answers KMSInvalidStateException
    "<key ARN> is pending import.", never HTTP 500."""
    key_id = create_external(kms)
    material_id = import_call(kms, key_id, ExpirationModel=DOES_NOT_EXPIRE)["KeyMaterialId"]
    with closing(sqlite3.connect(server.data_dir / "trent.db", timeout=15)) as db, db:
        db.execute(
            "UPDATE materials SET sealed=NULL WHERE key_id=? AND material_id=?",
            (key_id, material_id),
        )
    expected = {
        "Code": "KMSInvalidStateException",
        "Message": f"{arn(kms, key_id)} is pending import.",
    }
    for call, kwargs in (
        (kms.generate_data_key_pair_without_plaintext, {"KeyPairSpec": "ECC_NIST_P256"}),
        (kms.generate_data_key, {"KeySpec": "AES_256"}),
        (kms.encrypt, {"Plaintext": b"x"}),
    ):
        with pytest.raises(ClientError) as info:
            call(KeyId=key_id, **kwargs)
        assert info.value.response["Error"] == expected
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_explanation_goes_to_the_audit_record_not_the_caller(
    server: TrentServer, kms: Any, raw: Raw
) -> None:
    key_id = sym(kms)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"a": "b"})
    raw.bodies.clear()
    with pytest.raises(ClientError) as info:
        kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"a": "c"})
    request_id = info.value.response["ResponseMetadata"]["RequestId"]
    assert orjson.loads(raw.bodies[-1]) == {"__type": "InvalidCiphertextException"}
    (record,) = [r for r in server.audit_records() if r["requestID"] == request_id]
    assert record["errorCode"] == "InvalidCiphertextException"
    assert "does not match the encryption context" in record["errorMessage"]
