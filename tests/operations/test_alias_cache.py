"""An operation that takes no alias refuses one even after another operation on the same worker
resolved that alias (the key ring caches lookups by the name used): AWS's ImportKeyMaterial and
DeleteImportedKeyMaterial take a key id or key ARN only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.operations.test_asymmetric_import import create_external, wrap
from tests.server import TrentServer


@pytest.fixture(scope="module")
def kms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    server = TrentServer(tmp_path_factory.mktemp("alias-cache") / "data", workers=1).start()
    try:  # one worker: every call below meets the same key ring cache
        yield server.client()
    finally:
        server.stop()


def _import(kms: Any, key_ref: str, key_id: str, material: bytes) -> None:
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    kms.import_key_material(
        KeyId=key_ref,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", material),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )


@pytest.mark.parametrize("operation", ["ImportKeyMaterial", "DeleteImportedKeyMaterial"])
def test_an_alias_resolved_by_describe_key_is_still_refused(kms: Any, operation: str) -> None:
    key_id = create_external(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    alias = f"alias/cached-{os.urandom(4).hex()}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    material = os.urandom(32)
    if operation == "DeleteImportedKeyMaterial":
        _import(kms, key_id, key_id, material)
    kms.describe_key(KeyId=alias)  # the alias is now in the worker's cache
    with pytest.raises(ClientError) as refused:
        if operation == "ImportKeyMaterial":
            _import(kms, alias, key_id, material)
        else:
            kms.delete_imported_key_material(KeyId=alias)
    assert refused.value.response["Error"]["Code"] == "NotFoundException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    expected = "PendingImport" if operation == "ImportKeyMaterial" else "Enabled"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == expected
