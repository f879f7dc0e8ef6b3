"""Several ``trent serve`` nodes (separate processes and data directories, one root key file)
on one PostgreSQL: a change made through one node is honoured by every worker of the other on
its very next request (issue 11, "Nodes that agree")."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.pg import PostgresCluster, pg_bin
from tests.server import TrentServer, free_port
from trent.seal import FileSeal

# Enough calls that, with two workers per node, every worker has served (and cached) the key.
WARM_CALLS = 8


@dataclass
class Pair:
    a: TrentServer
    b: TrentServer
    url: str
    root_key: Path

    def warm(self, client: Any, **kwargs: Any) -> None:
        for _ in range(WARM_CALLS):
            client.encrypt(Plaintext=b"warm", **kwargs)


def node(tmp_path: Path, name: str, url: str, root_key: Path, **options: Any) -> TrentServer:
    directory = tmp_path / name
    directory.mkdir()
    return TrentServer(directory / "data", database_url=url, root_key_file=root_key, **options)


@pytest.fixture
def pair(tmp_path: Path, postgres: PostgresCluster) -> Iterator[Pair]:
    url = postgres.create_database()
    root_key = tmp_path / "shared" / "root.key"
    root_key.parent.mkdir(mode=0o700)
    a = node(tmp_path, "a", url, root_key).start()
    b = node(tmp_path, "b", url, root_key)
    try:
        b.start()
        yield Pair(a, b, url, root_key)
    finally:
        b.stop()
        a.stop()


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_second_node_joins_with_its_own_files(pair: Pair) -> None:
    a_creds, b_creds = pair.a.credentials(), pair.b.credentials()
    assert a_creds == b_creds is not None  # the admin key of the first start, in both dirs
    assert (pair.b.data_dir / "config").read_text().count(pair.b.endpoint) == 1
    assert not (pair.b.data_dir / "trent.db").exists()  # nothing stored locally
    key_id = pair.a.client().create_key()["KeyMetadata"]["KeyId"]
    assert pair.b.client().describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id


def test_disable_alias_rotation_seen_on_the_next_request(pair: Pair) -> None:
    kms_a, kms_b = pair.a.client(), pair.b.client()
    key_id = kms_a.create_key()["KeyMetadata"]["KeyId"]
    alias = f"alias/nodes-{uuid.uuid4().hex[:8]}"
    kms_a.create_alias(AliasName=alias, TargetKeyId=key_id)

    # Rotation: B's next Encrypt uses the new material.
    pair.warm(kms_b, KeyId=alias)
    before = kms_b.encrypt(KeyId=alias, Plaintext=b"x")["CiphertextBlob"]
    first = kms_a.decrypt(CiphertextBlob=before)["KeyMaterialId"]
    kms_a.rotate_key_on_demand(KeyId=key_id)
    for _ in range(WARM_CALLS):  # every worker of B, each on its next request
        after = kms_b.encrypt(KeyId=alias, Plaintext=b"x")["CiphertextBlob"]
        assert kms_a.decrypt(CiphertextBlob=after)["KeyMaterialId"] != first

    # A deleted alias no longer resolves on B.
    kms_a.delete_alias(AliasName=alias)
    for _ in range(WARM_CALLS):
        with pytest.raises(ClientError) as exc:
            kms_b.encrypt(KeyId=alias, Plaintext=b"x")
        assert code(exc) == "NotFoundException"

    # A disabled key is refused by B.
    pair.warm(kms_b, KeyId=key_id)
    kms_a.disable_key(KeyId=key_id)
    for _ in range(WARM_CALLS):
        with pytest.raises(ClientError) as exc:
            kms_b.encrypt(KeyId=key_id, Plaintext=b"x")
        assert code(exc) == "DisabledException"
    kms_a.enable_key(KeyId=key_id)
    kms_b.encrypt(KeyId=key_id, Plaintext=b"x")


def _user(server: TrentServer) -> tuple[str, dict[str, str]]:
    """A new IAM user (made through ``server``): its ARN and credentials."""
    iam = server.client("iam")
    name = f"u-{uuid.uuid4().hex[:8]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    made = iam.create_access_key(UserName=name)["AccessKey"]
    creds = {
        "aws_access_key_id": made["AccessKeyId"],
        "aws_secret_access_key": made["SecretAccessKey"],
    }
    return str(arn), creds


def test_revoked_grant_and_changed_policy_apply_on_the_other_node(pair: Pair) -> None:
    kms_a = pair.a.client()
    user_arn, creds = _user(pair.a)
    user_on_b = pair.b.client("kms", **creds)  # a user made on A signs in on B at once
    key_id = kms_a.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        user_on_b.encrypt(KeyId=key_id, Plaintext=b"x")
    assert code(exc) == "AccessDeniedException"

    grant = kms_a.create_grant(KeyId=key_id, GranteePrincipal=user_arn, Operations=["Encrypt"])
    pair.warm(user_on_b, KeyId=key_id)
    kms_a.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    for _ in range(WARM_CALLS):
        with pytest.raises(ClientError) as exc:
            user_on_b.encrypt(KeyId=key_id, Plaintext=b"x")
        assert code(exc) == "AccessDeniedException"

    # A key policy that allows the user, then one that no longer does.
    account = user_arn.split(":")[4]
    root = f'{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},'
    root += '"Action":"kms:*","Resource":"*"}'
    allow_user = (
        f'{{"Effect":"Allow","Principal":{{"AWS":"{user_arn}"}},'
        '"Action":"kms:Encrypt","Resource":"*"}'
    )
    policy = '{"Version":"2012-10-17","Statement":[' + root + "," + allow_user + "]}"
    kms_a.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)
    pair.warm(user_on_b, KeyId=key_id)
    only_root = '{"Version":"2012-10-17","Statement":[' + root + "]}"
    kms_a.put_key_policy(KeyId=key_id, PolicyName="default", Policy=only_root)
    for _ in range(WARM_CALLS):
        with pytest.raises(ClientError) as exc:
            user_on_b.encrypt(KeyId=key_id, Plaintext=b"x")
        assert code(exc) == "AccessDeniedException"


def test_node_with_another_root_key_refuses_to_start(pair: Pair, tmp_path: Path) -> None:
    other_key = tmp_path / "other" / "root.key"
    other_key.parent.mkdir(mode=0o700)
    other_key.write_bytes(pair.root_key.read_bytes()[::-1])  # same size, not the key
    other_key.chmod(0o600)
    kms_a = pair.a.client()
    keys_before = kms_a.list_keys()["Keys"]
    data_dir = tmp_path / "c" / "data"
    args = [sys.executable, "-m", "trent", "serve", "--data-dir", str(data_dir)]
    args += ["--database-url", pair.url, "--root-key-file", str(other_key)]
    args += ["--port", str(free_port())]
    started = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and "not the key the data" in lines[0], started.stderr
    assert "Traceback" not in started.stderr
    assert kms_a.list_keys()["Keys"] == keys_before
    assert not (data_dir / "credentials").exists()


def test_database_password_is_never_printed(tmp_path: Path, postgres: PostgresCluster) -> None:
    url = f"postgresql://postgres:s3cr3t-pw@127.0.0.1:{postgres.port}/absent_db"
    args = [sys.executable, "-m", "trent", "serve", "--data-dir", str(tmp_path / "d")]
    args += ["--database-url", url, "--port", str(free_port())]
    started = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert "s3cr3t-pw" not in started.stdout + started.stderr
    assert "postgres:***@127.0.0.1" in started.stderr and "Traceback" not in started.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "trent", "config", "show", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "s3cr3t-pw" not in shown.stdout + shown.stderr
    assert 'database_url = "postgresql://postgres:***@' in shown.stdout


def test_nodes_started_together_on_a_new_database_agree(
    tmp_path: Path, postgres: PostgresCluster
) -> None:
    url = postgres.create_database()
    root_key = tmp_path / "root.key"
    FileSeal(root_key).create_if_missing()  # the one key all nodes are given
    nodes = [node(tmp_path, name, url, root_key) for name in ("a", "b", "c")]
    try:
        with ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(TrentServer.start, nodes))
        accounts = {n.client("sts").get_caller_identity()["Account"] for n in nodes}
        assert len(accounts) == 1
        key_id = nodes[0].client().create_key()["KeyMetadata"]["KeyId"]
        blob = nodes[1].client().encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
        assert nodes[2].client().decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"
    finally:
        for n in nodes:
            n.stop()


def test_nodes_reconnect_after_postgresql_restarts(pair: Pair, postgres: PostgresCluster) -> None:
    kms_a, kms_b = pair.a.client(), pair.b.client()
    key_id = kms_a.create_key()["KeyMetadata"]["KeyId"]
    pair.warm(kms_b, KeyId=key_id)
    postgres.restart()  # every connection of every worker is lost

    failures = 0
    for client in (kms_a, kms_b) * WARM_CALLS:
        try:
            client.encrypt(KeyId=key_id, Plaintext=b"x")
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "KMSInternalException"
            failures += 1
    # at most the first request of each worker (2 per node) meets its lost connection
    assert failures <= 4
    kms_a.disable_key(KeyId=key_id)
    for _ in range(WARM_CALLS):
        with pytest.raises(ClientError) as exc:
            kms_b.encrypt(KeyId=key_id, Plaintext=b"x")
        assert code(exc) == "DisabledException"


def trent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trent", *args], capture_output=True, text=True, timeout=120
    )


def test_each_node_keeps_its_own_trail(pair: Pair) -> None:
    key_a = pair.a.client().create_key()["KeyMetadata"]["KeyId"]
    key_b = pair.b.client().create_key()["KeyMetadata"]["KeyId"]
    pair.a.stop()  # each writes a last checkpoint and records it as its own anchor
    pair.b.stop()
    names = [(n.data_dir / "node").read_text().strip() for n in (pair.a, pair.b)]
    assert names[0] != names[1]
    for server, key_id, name in ((pair.a, key_a, names[0]), (pair.b, key_b, names[1])):
        records = [r for r in server.audit_records() if r["eventName"] == "CreateKey"]
        assert [r["responseElements"]["keyMetadata"]["keyId"] for r in records] == [key_id]
        assert {r["trentNode"] for r in server.audit_records()} == {name}

    dirs = ["--data-dir", str(pair.a.data_dir), "--data-dir", str(pair.b.data_dir)]
    verified = trent("audit", "verify", *dirs, "--database-url", pair.url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("OK: the trail is intact") == 2
    assert "records no checkpoint" not in verified.stdout  # each found its own anchor
    queried = trent("audit", "query", *dirs, "--event-name", "CreateKey")
    assert queried.returncode == 0, queried.stderr
    assert key_a in queried.stdout and key_b in queried.stdout

    # A trail cut back before its anchor is caught, node by node.
    newest = pair.b.data_dir / "audit" / "audit.log"
    lines = newest.read_bytes().splitlines(keepends=True)
    newest.write_bytes(b"".join(lines[:-1]))
    cut = trent("audit", "verify", *dirs, "--database-url", pair.url)
    assert cut.returncode == 1, cut.stdout
    assert cut.stdout.count("OK: the trail is intact") == 1


def test_pg_dump_and_pg_restore_round_trip(pair: Pair, postgres: PostgresCluster) -> None:
    kms = pair.a.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/kept", TargetKeyId=key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before the dump")["CiphertextBlob"]
    dump = pair.root_key.parent / "trent.dump"
    binaries = pg_bin()
    subprocess.run(
        [str(binaries / "pg_dump"), "--format=custom", "--file", str(dump), pair.url],
        check=True,
        capture_output=True,
    )
    pair.a.client().schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)  # after the dump

    restored_url = postgres.create_database()
    subprocess.run(
        [str(binaries / "pg_restore"), "--no-owner", "--dbname", restored_url, str(dump)],
        check=True,
        capture_output=True,
    )
    restored = node(pair.root_key.parent, "restored", restored_url, pair.root_key).start()
    try:
        kms_r = restored.client()
        assert kms_r.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before the dump"
        assert kms_r.describe_key(KeyId="alias/kept")["KeyMetadata"]["KeyState"] == "Enabled"
        kms_r.create_key()  # and it takes writes
    finally:
        restored.stop()


def test_races_between_nodes_keep_aws_limits(pair: Pair) -> None:
    """Requests racing through both nodes at once: the 25 on-demand rotations limit holds
    exactly, and one alias name goes to exactly one key."""
    clients = [pair.a.client(), pair.b.client()]
    key_id = clients[0].create_key()["KeyMetadata"]["KeyId"]

    def rotate(i: int) -> str:
        try:
            clients[i % 2].rotate_key_on_demand(KeyId=key_id)
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "ok"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(rotate, range(32)))
    assert outcomes.count("ok") == 25, outcomes
    assert set(outcomes) == {"ok", "LimitExceededException"}
    rotations = clients[1].list_key_rotations(KeyId=key_id, Limit=100)["Rotations"]
    assert len(rotations) == 25

    keys = [clients[0].create_key()["KeyMetadata"]["KeyId"] for _ in range(8)]
    alias = f"alias/race-{uuid.uuid4().hex[:8]}"

    def claim(i: int) -> str:
        try:
            clients[i % 2].create_alias(AliasName=alias, TargetKeyId=keys[i])
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "ok"

    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(claim, range(8)))
    assert claims.count("ok") == 1 and set(claims) == {"ok", "AlreadyExistsException"}, claims
    winner = keys[claims.index("ok")]
    for client in clients:
        assert client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == winner


def test_a_database_url_that_is_not_a_uri_is_refused_unechoed(tmp_path: Path) -> None:
    shown = trent("config", "show", "--database-url", "host=db password=hunter2-secret")
    assert shown.returncode != 0
    assert "hunter2-secret" not in shown.stdout + shown.stderr
    assert "must be a PostgreSQL URI" in shown.stderr
