"""Several regions on one server, and multi-Region keys (issue 15).

One ``trent serve --region us-east-1 --region eu-west-1`` (test clock), boto3 clients for both
regions. Rules from the API Reference (ReplicateKey, UpdatePrimaryRegion, ScheduleKeyDeletion,
DescribeKey's MultiRegionConfiguration) and the developer guide's multi-Region key pages;
cryptographic results checked with pyca and the reference ciphertext implementation.
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.crypto import reference
from tests.operations.test_imports import import_material
from tests.server import TrentServer
from trent.store.sqlite import MIGRATIONS

HOME, OTHER = "us-east-1", "eu-west-1"
DAY = 86400.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    data = tmp_path_factory.mktemp("regions") / "data"
    trent = TrentServer(data, test_clock=True, extra_args=["--region", OTHER]).start()
    yield trent
    trent.stop()


@pytest.fixture(scope="module")
def us(server: TrentServer) -> Any:
    return server.client(region_name=HOME)


@pytest.fixture(scope="module")
def eu(server: TrentServer) -> Any:
    return server.client(region_name=OTHER)


def fails(call: Any, code: str, message: str | None = None, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    if message is not None:
        assert error["Message"] == message, error
    return str(error["Message"])


def metadata(kms: Any, key_id: str) -> dict[str, Any]:
    return dict(kms.describe_key(KeyId=key_id)["KeyMetadata"])


def all_keys(kms: Any) -> set[str]:
    pages = kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 5})
    return {k["KeyId"] for page in pages for k in page["Keys"]}


def replicated(us: Any, eu: Any, **create: Any) -> str:
    key_id = str(us.create_key(MultiRegion=True, **create)["KeyMetadata"]["KeyId"])
    us.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    return key_id


# --- regions -------------------------------------------------------------------------------


def test_each_region_has_its_own_keys_and_arns(us: Any, eu: Any, server: TrentServer) -> None:
    mine = us.create_key()["KeyMetadata"]
    theirs = eu.create_key()["KeyMetadata"]
    assert mine["Arn"].startswith(f"arn:aws:kms:{HOME}:")
    assert theirs["Arn"].startswith(f"arn:aws:kms:{OTHER}:")
    assert mine["KeyId"] in all_keys(us) and mine["KeyId"] not in all_keys(eu)
    assert theirs["KeyId"] in all_keys(eu) and theirs["KeyId"] not in all_keys(us)
    listed = {k["KeyId"]: k["KeyArn"] for k in eu.list_keys(Limit=1000)["Keys"]}
    assert listed[theirs["KeyId"]] == theirs["Arn"]
    # by id, and by its ARN: another region's key does not exist here
    fails(eu.describe_key, "NotFoundException", KeyId=mine["KeyId"])
    fails(eu.describe_key, "NotFoundException", f"Invalid arn {HOME}", KeyId=mine["Arn"])
    fails(
        us.encrypt, "NotFoundException", f"Invalid arn {OTHER}", KeyId=theirs["Arn"], Plaintext=b"x"
    )
    assert metadata(eu, theirs["Arn"])["KeyId"] == theirs["KeyId"]


def test_aliases_are_per_region(us: Any, eu: Any) -> None:
    name = f"alias/regional-{uuid.uuid4().hex[:8]}"
    mine, theirs = us.create_key()["KeyMetadata"], eu.create_key()["KeyMetadata"]
    us.create_alias(AliasName=name, TargetKeyId=mine["KeyId"])
    eu.create_alias(AliasName=name, TargetKeyId=theirs["KeyId"])  # the same name, elsewhere
    assert metadata(us, name)["Arn"] == mine["Arn"]
    assert metadata(eu, name)["Arn"] == theirs["Arn"]
    found = [a for a in eu.list_aliases(Limit=100)["Aliases"] if a["AliasName"] == name]
    assert found == [
        {
            "AliasName": name,
            "AliasArn": f"arn:aws:kms:{OTHER}:{theirs['AWSAccountId']}:{name}",
            "TargetKeyId": theirs["KeyId"],
            "CreationDate": found[0]["CreationDate"],
            "LastUpdatedDate": found[0]["LastUpdatedDate"],
        }
    ]
    eu.delete_alias(AliasName=name)
    assert metadata(us, name)["KeyId"] == mine["KeyId"]  # the home region's alias stays
    fails(eu.describe_key, "NotFoundException", KeyId=name)
    # an alias cannot point at a key of another region
    fails(eu.create_alias, "NotFoundException", AliasName=name, TargetKeyId=mine["Arn"])


def test_a_region_not_served_is_refused_as_aws_refuses_its_scope(server: TrentServer) -> None:
    elsewhere = server.client(region_name="ap-southeast-2")
    fails(
        elsewhere.list_keys,
        "InvalidSignatureException",
        "Credential should be scoped to a valid region. ",
    )


def test_iam_is_global_and_the_audit_names_the_request_region(server: TrentServer, eu: Any) -> None:
    iam = server.client("iam", region_name=OTHER)
    name = f"regions-{uuid.uuid4().hex[:8]}"
    assert iam.create_user(UserName=name)["User"]["UserName"] == name
    assert name in {u["UserName"] for u in server.client("iam").list_users()["Users"]}
    reply = eu.create_key(Description="audited")
    request_id = reply["ResponseMetadata"]["RequestId"]
    server.wait_for(lambda: any(r["requestID"] == request_id for r in server.audit_records()))
    record = next(r for r in server.audit_records() if r["requestID"] == request_id)
    assert record["awsRegion"] == OTHER
    assert record["responseElements"]["keyMetadata"]["arn"] == reply["KeyMetadata"]["Arn"]


def test_access_key_last_used_names_the_request_region(server: TrentServer) -> None:
    iam = server.client("iam")
    user = f"regions-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=user, PolicyName="kms", PolicyDocument=json.dumps(allow))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    eu = server.client(
        region_name=OTHER,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )

    def used() -> bool:
        eu.list_keys()
        last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
        return last.get("Region") == OTHER and last.get("ServiceName") == "kms"

    server.wait_for(used, timeout=15)


# --- multi-Region keys ---------------------------------------------------------------------


def test_replicate_a_symmetric_key_and_decrypt_across_regions(us: Any, eu: Any) -> None:
    created = us.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]
    key_id = created["KeyId"]
    assert key_id.startswith("mrk-") and len(key_id) == 36
    assert created["MultiRegion"] is True
    assert created["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": created["Arn"], "Region": HOME},
        "ReplicaKeys": [],
    }
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{created['AWSAccountId']}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    reply = us.replicate_key(
        KeyId=key_id,
        ReplicaRegion=OTHER,
        Description="replica",
        Policy=policy,
        Tags=[{"TagKey": "site", "TagValue": "dublin"}],
    )
    replica = reply["ReplicaKeyMetadata"]
    replica_arn = f"arn:aws:kms:{OTHER}:{created['AWSAccountId']}:key/{key_id}"
    assert replica["Arn"] == replica_arn and replica["KeyId"] == key_id
    assert replica["KeyState"] == "Creating" and replica["Enabled"] is False
    assert "CurrentKeyMaterialId" not in replica  # as AWS answers [LS-snap test_replicate_key]
    assert reply["ReplicaPolicy"] == policy
    assert reply["ReplicaTags"] == [{"TagKey": "site", "TagValue": "dublin"}]
    described = metadata(eu, key_id)
    assert described["KeyState"] == "Enabled" and described["Description"] == "replica"
    assert described["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "REPLICA",
        "PrimaryKey": {"Arn": created["Arn"], "Region": HOME},
        "ReplicaKeys": [{"Arn": replica_arn, "Region": OTHER}],
    }
    assert metadata(us, key_id)["MultiRegionConfiguration"]["ReplicaKeys"] == [
        {"Arn": replica_arn, "Region": OTHER}
    ]
    assert eu.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == policy
    assert metadata(us, key_id)["Description"] == "primary"  # each keeps its own
    assert eu.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "site", "TagValue": "dublin"}]
    assert us.list_resource_tags(KeyId=key_id)["Tags"] == []
    assert key_id in all_keys(eu)

    context = {"purpose": "dr"}
    blob = us.encrypt(KeyId=key_id, Plaintext=b"made in us", EncryptionContext=context)
    opened = eu.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=context)
    assert opened["Plaintext"] == b"made in us" and opened["KeyId"] == replica_arn
    back = eu.encrypt(KeyId=key_id, Plaintext=b"made in eu")["CiphertextBlob"]
    assert us.decrypt(CiphertextBlob=back, KeyId=key_id)["Plaintext"] == b"made in eu"
    assert back[0] == 3  # the blob names the mrk- id (README: ciphertext format)
    assert back[1:17].hex() == key_id[4:]
    fails(eu.decrypt, "InvalidCiphertextException", CiphertextBlob=back, EncryptionContext=context)


def test_asymmetric_and_hmac_replicas_share_the_key(us: Any, eu: Any) -> None:
    key_id = replicated(us, eu, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    public_us = us.get_public_key(KeyId=key_id)["PublicKey"]
    assert eu.get_public_key(KeyId=key_id)["PublicKey"] == public_us
    message = b"signed in eu-west-1"
    signature = eu.sign(KeyId=key_id, Message=message, SigningAlgorithm="ECDSA_SHA_256")[
        "Signature"
    ]
    public = serialization.load_der_public_key(public_us)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, message, ec.ECDSA(hashes.SHA256()))  # pyca, with us's key
    assert us.verify(
        KeyId=key_id, Message=message, Signature=signature, SigningAlgorithm="ECDSA_SHA_256"
    )["SignatureValid"]

    mac_key = replicated(us, eu, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    mac = us.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert eu.verify_mac(KeyId=mac_key, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")[
        "MacValid"
    ]
    assert eu.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"] == mac


def test_replicate_key_rules(us: Any, eu: Any) -> None:
    single = us.create_key()["KeyMetadata"]
    fails(
        us.replicate_key,
        "UnsupportedOperationException",
        f"{single['Arn']} is not a multi-region primary key.",
        KeyId=single["KeyId"],
        ReplicaRegion=OTHER,
    )
    key_id = replicated(us, eu)
    replica_arn = metadata(eu, key_id)["Arn"]
    fails(  # a replica is no primary
        eu.replicate_key,
        "UnsupportedOperationException",
        f"{replica_arn} is not a multi-region primary key.",
        KeyId=key_id,
        ReplicaRegion=HOME,
    )
    fails(us.replicate_key, "AlreadyExistsException", KeyId=key_id, ReplicaRegion=OTHER)
    fails(us.replicate_key, "AlreadyExistsException", KeyId=key_id, ReplicaRegion=HOME)
    fails(
        us.replicate_key,
        "UnsupportedOperationException",
        "Region ap-south-1 is not served by this Trent (trent serve --region).",
        KeyId=key_id,
        ReplicaRegion="ap-south-1",
    )
    fails(us.replicate_key, "ValidationException", KeyId=key_id, ReplicaRegion="Mars")
    disabled = us.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    us.disable_key(KeyId=disabled)
    reply = us.replicate_key(KeyId=disabled, ReplicaRegion=OTHER)  # Disabled may be replicated
    assert "ReplicaTags" not in reply  # none given: none answered [LS-snap test_replicate_key]
    assert metadata(eu, disabled)["KeyState"] == "Enabled"


def test_rotation_is_managed_on_the_primary(us: Any, eu: Any) -> None:
    key_id = replicated(us, eu)
    arn = metadata(eu, key_id)["Arn"]
    message = f"{arn} is a multi-Region replica key. Key rotation is managed on its primary key."
    fails(eu.enable_key_rotation, "UnsupportedOperationException", message, KeyId=key_id)
    fails(eu.rotate_key_on_demand, "UnsupportedOperationException", message, KeyId=key_id)
    old = us.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    us.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = eu.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90
    before = metadata(eu, key_id)["CurrentKeyMaterialId"]
    us.rotate_key_on_demand(KeyId=key_id)
    after = metadata(us, key_id)["CurrentKeyMaterialId"]
    assert after != before and metadata(eu, key_id)["CurrentKeyMaterialId"] == after
    new = eu.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert new[17:49].hex() == after
    assert us.decrypt(CiphertextBlob=new)["Plaintext"] == b"after"
    assert eu.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    ids = [r["KeyMaterialId"] for r in eu.list_key_rotations(KeyId=key_id)["Rotations"]]
    assert ids == [after]


def test_update_primary_region(us: Any, eu: Any) -> None:
    key_id = replicated(us, eu)
    us.enable_key_rotation(KeyId=key_id)
    fails(
        us.update_primary_region,
        "UnsupportedOperationException",
        KeyId=us.create_key()["KeyMetadata"]["KeyId"],
        PrimaryRegion=OTHER,
    )
    us.update_primary_region(KeyId=key_id, PrimaryRegion=OTHER)
    primary, replica = metadata(eu, key_id), metadata(us, key_id)
    assert primary["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert replica["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert replica["MultiRegionConfiguration"]["PrimaryKey"] == {
        "Arn": primary["Arn"],
        "Region": OTHER,
    }
    assert primary["MultiRegionConfiguration"]["ReplicaKeys"] == [
        {"Arn": replica["Arn"], "Region": HOME}
    ]
    assert eu.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]  # moved with it
    fails(us.rotate_key_on_demand, "UnsupportedOperationException", KeyId=key_id)
    fails(us.replicate_key, "UnsupportedOperationException", KeyId=key_id, ReplicaRegion=OTHER)
    eu.rotate_key_on_demand(KeyId=key_id)
    assert (
        metadata(us, key_id)["CurrentKeyMaterialId"] == metadata(eu, key_id)["CurrentKeyMaterialId"]
    )
    lonely = us.create_key(MultiRegion=True)["KeyMetadata"]
    fails(
        us.update_primary_region,
        "NotFoundException",
        f"{lonely['Arn']} has no replica key in {OTHER}.",
        KeyId=lonely["KeyId"],
        PrimaryRegion=OTHER,
    )


def test_primary_with_replicas_waits_for_them(us: Any, eu: Any, server: TrentServer) -> None:
    key_id = replicated(us, eu)
    scheduled = us.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingReplicaDeletion"
    assert "DeletionDate" not in scheduled and scheduled["PendingWindowInDays"] == 7
    primary = metadata(us, key_id)
    assert primary["KeyState"] == "PendingReplicaDeletion"
    assert primary["PendingDeletionWindowInDays"] == 7 and "DeletionDate" not in primary
    fails(
        us.encrypt,
        "KMSInvalidStateException",
        f"{primary['Arn']} is pending replica deletion.",
        KeyId=key_id,
        Plaintext=b"x",
    )
    fails(us.replicate_key, "KMSInvalidStateException", KeyId=key_id, ReplicaRegion=OTHER)
    assert eu.encrypt(KeyId=key_id, Plaintext=b"still")["CiphertextBlob"]  # the replica works
    eu.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    server.advance_clock(days=8)
    server.wait_for(lambda: key_id not in all_keys(eu))
    server.wait_for(lambda: metadata(us, key_id)["KeyState"] == "PendingDeletion")
    waiting = metadata(us, key_id)
    assert waiting["MultiRegionConfiguration"]["ReplicaKeys"] == []
    assert "PendingDeletionWindowInDays" not in waiting
    assert waiting["DeletionDate"].timestamp() > primary["CreationDate"].timestamp() + 14 * DAY
    server.advance_clock(days=8)
    server.wait_for(lambda: key_id not in all_keys(us))

    again = replicated(us, eu)
    us.schedule_key_deletion(KeyId=again, PendingWindowInDays=7)
    assert us.cancel_key_deletion(KeyId=again)["KeyId"] == metadata(us, again)["Arn"]
    assert metadata(us, again)["KeyState"] == "Disabled"


def test_imported_material_is_the_same_in_every_region(us: Any, eu: Any) -> None:
    created = us.create_key(MultiRegion=True, Origin="EXTERNAL")["KeyMetadata"]
    key_id = created["KeyId"]
    material = os.urandom(32)
    material_id = import_material(us, key_id, material)
    reply = us.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    assert reply["ReplicaKeyMetadata"]["Origin"] == "EXTERNAL"
    assert metadata(eu, key_id)["KeyState"] == "PendingImport"
    fails(
        lambda: import_material(eu, key_id, os.urandom(32)),
        "IncorrectKeyMaterialException",
        "The key material is not the key material of the related multi-Region keys.",
    )
    assert import_material(eu, key_id, material) == material_id
    assert metadata(eu, key_id)["KeyState"] == "Enabled"
    blob = eu.encrypt(KeyId=key_id, Plaintext=b"imported", EncryptionContext={"a": "b"})
    opened = us.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"a": "b"})
    assert opened["Plaintext"] == b"imported"
    # independently: the reference implementation opens it with the imported material
    assert reference.open_blob(material, blob["CiphertextBlob"], {"a": "b"}) == b"imported"


def test_the_aws_cli_region_flag(server: TrentServer, us: Any) -> None:
    key_id = replicated(us, server.client(region_name=OTHER))
    aws = Path(sys.executable).parent / "aws"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(server.data_dir / "credentials")
    env["AWS_CONFIG_FILE"] = str(server.data_dir / "config")

    def cli(command: str) -> Any:
        line = f"{shlex.quote(str(aws))} --profile trent kms {command}"
        done = subprocess.run(
            ["bash", "-c", line], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    described = cli(f"describe-key --region {OTHER} --key-id {key_id}")["KeyMetadata"]
    assert described["Arn"].startswith(f"arn:aws:kms:{OTHER}:")
    assert described["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    home = cli(f"describe-key --key-id {key_id}")["KeyMetadata"]  # the profile's region
    assert home["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"


def test_the_readme_walkthrough(server: TrentServer, tmp_path: Path) -> None:
    """README, "Regions and multi-Region keys": the block as written, with the quick start's
    variables."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    after = text[text.index("<!-- regions walkthrough: tests/operations/test_regions.py") :]
    start = after.index("```sh\n") + len("```sh\n")
    block = after[start : after.index("```", start)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(server.data_dir / "credentials")
    env["AWS_CONFIG_FILE"] = str(server.data_dir / "config")
    env |= {"AWS_PROFILE": "trent", "AWS_PAGER": ""}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert "order 42" in lines and "PRIMARY" in lines, done.stdout
    assert '"Creating"' in done.stdout and '"REPLICA"' in done.stdout
    assert (tmp_path / "order.enc").read_bytes()[:1] == b"\x03"  # a multi-Region key's blob


def test_a_data_dir_from_before_regions_keeps_its_keys_home(tmp_path: Path) -> None:
    """Upgrade: the schema of before this change (no region columns), then a server with two
    regions: the keys and aliases are the home region's."""
    trent = TrentServer(tmp_path / "data").start()
    try:
        kms = trent.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/old", TargetKeyId=key_id)
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"old")["CiphertextBlob"]
    finally:
        trent.stop()
    # the schema as it was before the regions migration (and the ones after it, whose objects
    # name the region column)
    regions = next(n for n, step in enumerate(MIGRATIONS) if "keys_by_region" in step)
    with closing(sqlite3.connect(trent.data_dir / "trent.db")) as db:
        for statement in (
            "DROP INDEX keys_by_state",
            "DROP INDEX keys_by_region",
            "DROP INDEX aliases_by_region",
            "ALTER TABLE keys DROP COLUMN region",
            "ALTER TABLE keys DROP COLUMN multi_region_type",
            "ALTER TABLE aliases DROP COLUMN region",
            f"PRAGMA user_version={regions}",
        ):
            db.execute(statement)
        db.commit()
    trent.extra_args = ["--region", OTHER]
    trent.start()
    try:
        home, other = trent.client(region_name=HOME), trent.client(region_name=OTHER)
        assert home.decrypt(CiphertextBlob=blob)["Plaintext"] == b"old"
        assert metadata(home, "alias/old")["KeyId"] == key_id
        assert key_id in all_keys(home) and key_id not in all_keys(other)
        fails(other.describe_key, "NotFoundException", KeyId="alias/old")
    finally:
        trent.stop()


def test_serve_names_every_region_it_serves(server: TrentServer) -> None:
    """The first line ``trent serve`` prints names the regions a client may scope to, the home
    region first, not the home region alone."""
    printed = (server.data_dir.parent / f"server-{server.port}.log").read_text().splitlines()
    first = next(line for line in printed if line.startswith("Trent on "))
    assert first.endswith(f", regions {HOME}, {OTHER})"), first
