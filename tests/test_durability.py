"""Durability and multi-worker coherence against real ``trent serve`` processes.

Restarts (SIGTERM and SIGKILL) use a server of the test's own; what needs no restart uses the
session server, which runs two workers.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import stat
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import TrentServer


def error_code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def all_aliases(kms: Any) -> dict[str, str]:
    pages = kms.get_paginator("list_aliases").paginate()
    return {a["AliasName"]: a.get("TargetKeyId", "") for p in pages for a in p["Aliases"]}


def all_key_ids(kms: Any) -> set[str]:
    pages = kms.get_paginator("list_keys").paginate()
    return {k["KeyId"] for p in pages for k in p["Keys"]}


def snapshot(kms: Any, key_ids: list[str]) -> dict[str, Any]:
    """Everything the API shows about some keys, to compare across a restart."""
    out: dict[str, Any] = {"aliases": all_aliases(kms), "keys": {}}
    for key_id in key_ids:
        rotation = kms.get_key_rotation_status(KeyId=key_id)
        rotation.pop("ResponseMetadata")
        rotations = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
        out["keys"][key_id] = {
            "metadata": kms.describe_key(KeyId=key_id)["KeyMetadata"],
            "tags": kms.list_resource_tags(KeyId=key_id)["Tags"],
            "rotation": rotation,
            "rotations": rotations["Rotations"],
            "policy": kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"],
        }
    return out


# --- restart after SIGTERM -------------------------------------------------------------------
def test_everything_survives_a_sigterm_restart(fresh_server: TrentServer) -> None:
    kms = fresh_server.start().client()
    main = kms.create_key(Description="durable", Tags=[{"TagKey": "team", "TagValue": "a"}])
    main_id = main["KeyMetadata"]["KeyId"]
    other_id = kms.create_key(Description="other")["KeyMetadata"]["KeyId"]
    disabled_id = kms.create_key(Description="disabled")["KeyMetadata"]["KeyId"]
    doomed_id = kms.create_key(Description="pending deletion")["KeyMetadata"]["KeyId"]

    kms.create_alias(AliasName="alias/durable", TargetKeyId=main_id)
    kms.create_alias(AliasName="alias/moved", TargetKeyId=main_id)
    kms.update_alias(AliasName="alias/moved", TargetKeyId=other_id)
    kms.tag_resource(KeyId=main_id, Tags=[{"TagKey": "env", "TagValue": "prod"}])
    kms.enable_key_rotation(KeyId=main_id, RotationPeriodInDays=90)
    policy = kms.get_key_policy(KeyId=other_id, PolicyName="default")["Policy"]
    kms.put_key_policy(KeyId=other_id, PolicyName="default", Policy=policy.replace("  ", " "))
    kms.update_key_description(KeyId=other_id, Description="described again")

    context = {"purpose": "durability"}
    before_rotation = kms.encrypt(
        KeyId=main_id, Plaintext=b"old material", EncryptionContext=context
    )
    kms.rotate_key_on_demand(KeyId=main_id)
    after_rotation = kms.encrypt(KeyId="alias/durable", Plaintext=b"new material")
    data_key = kms.generate_data_key(KeyId=main_id, KeySpec="AES_256")
    kms.disable_key(KeyId=disabled_id)
    kms.schedule_key_deletion(KeyId=doomed_id, PendingWindowInDays=7)

    ids = [main_id, other_id, disabled_id, doomed_id]
    before = snapshot(kms, ids)
    assert len(before["keys"][main_id]["rotations"]) == 2

    assert fresh_server.stop(signal.SIGTERM) == 0  # a clean shutdown
    kms = fresh_server.start().client()

    assert snapshot(kms, ids) == before
    assert all_key_ids(kms) == set(ids)
    opened = kms.decrypt(
        CiphertextBlob=before_rotation["CiphertextBlob"], EncryptionContext=context
    )
    assert opened["Plaintext"] == b"old material"
    assert kms.decrypt(CiphertextBlob=after_rotation["CiphertextBlob"])["Plaintext"] == (
        b"new material"
    )
    assert (
        kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
        == (data_key["Plaintext"])
    )
    assert kms.encrypt(KeyId="alias/moved", Plaintext=b"x")["KeyId"].endswith(other_id)
    with pytest.raises(ClientError) as err:
        kms.encrypt(KeyId=disabled_id, Plaintext=b"x")
    assert error_code(err) == "DisabledException"
    assert "is disabled" in err.value.response["Error"]["Message"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# --- SIGKILL after acknowledged writes -------------------------------------------------------
def test_sigkill_loses_nothing_acknowledged(fresh_server: TrentServer) -> None:
    """Writers run flat out on separate connections; the server is killed mid-stream. Every
    write that was answered must be there after a restart, with its ciphertext decrypting."""
    fresh_server.start()
    stop = threading.Event()
    killing = threading.Event()
    unexpected: list[BaseException] = []
    acknowledged: list[tuple[str, str, bytes, bytes]] = []  # key id, alias, plaintext, blob
    lock = threading.Lock()

    def writer(n: int) -> int:
        kms = fresh_server.client()
        done = 0
        for i in range(200):
            if stop.is_set():
                break
            plaintext = os.urandom(24)
            alias = f"alias/w{n}-{i}"
            try:
                key = kms.create_key(Tags=[{"TagKey": "writer", "TagValue": f"{n}-{i}"}])
                key_id = key["KeyMetadata"]["KeyId"]
                kms.create_alias(AliasName=alias, TargetKeyId=key_id)
                blob = kms.encrypt(KeyId=alias, Plaintext=plaintext)["CiphertextBlob"]
            except Exception as exc:  # the server is gone; what was answered before counts
                if not killing.is_set():
                    unexpected.append(exc)
                break
            with lock:
                acknowledged.append((key_id, alias, plaintext, blob))
            done += 1
        return done

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(writer, n) for n in range(4)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lock:
                if len(acknowledged) >= 40:
                    break
            time.sleep(0.05)
        killing.set()
        fresh_server.stop(signal.SIGKILL)  # no chance to flush or checkpoint
        stop.set()
        for future in futures:
            future.result(timeout=60)

    with lock:
        saved = list(acknowledged)
    assert not unexpected, unexpected
    assert len(saved) >= 40
    kms = fresh_server.start().client()
    keys = all_key_ids(kms)
    aliases = all_aliases(kms)
    for key_id, alias, plaintext, blob in saved:
        assert key_id in keys
        assert aliases[alias] == key_id
        tags = kms.list_resource_tags(KeyId=key_id)["Tags"]
        assert [t["TagKey"] for t in tags] == ["writer"]
        opened = kms.decrypt(CiphertextBlob=blob)
        assert opened["Plaintext"] == plaintext
        assert opened["KeyId"].endswith(key_id)


def test_sigkill_right_after_state_changes_keeps_them(fresh_server: TrentServer) -> None:
    kms = fresh_server.start().client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    spare_id = kms.create_key()["KeyMetadata"]["KeyId"]
    first_material = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key_id)
    kms.create_alias(AliasName="alias/last", TargetKeyId=key_id)
    kms.disable_key(KeyId=key_id)
    kms.schedule_key_deletion(KeyId=spare_id, PendingWindowInDays=7)
    kms.untag_resource(KeyId=key_id, TagKeys=["absent"])
    fresh_server.stop(signal.SIGKILL)

    kms = fresh_server.start().client()
    metadata = kms.describe_key(KeyId="alias/last")["KeyMetadata"]
    assert metadata["KeyId"] == key_id
    assert metadata["KeyState"] == "Disabled"
    assert metadata["CurrentKeyMaterialId"] != first_material
    assert kms.describe_key(KeyId=spare_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"before"


# --- what lies on disk -----------------------------------------------------------------------
def test_secret_files_are_private(server: TrentServer) -> None:
    for name in ("root.key", "credentials", "config"):
        mode = stat.S_IMODE((server.data_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    assert len((server.data_dir / "root.key").read_bytes()) == 32


def _forms(secret: bytes) -> list[bytes]:
    """The ways a secret could sit in a file: raw, base64, hex."""
    return [secret, base64.b64encode(secret), secret.hex().encode(), secret.hex().upper().encode()]


def test_no_plaintext_or_secret_on_disk(server: TrentServer, kms: Any, key_id: str) -> None:
    plaintexts = [os.urandom(48) for _ in range(3)]
    plaintexts.append(f"recognisable plaintext {uuid.uuid4()}".encode())
    for plaintext in plaintexts:
        kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext={"a": "b"})
    data_keys = [kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]]
    data_keys.append(kms.generate_data_key(KeyId=key_id, NumberOfBytes=64)["Plaintext"])
    random_bytes = kms.generate_random(NumberOfBytes=48)["Plaintext"]
    root_key = (server.data_dir / "root.key").read_bytes()
    _, secret_access_key = server.credentials()

    database = server.data_dir / "trent.db"
    assert database.exists()
    files = {
        str(p.relative_to(server.data_dir)): p.read_bytes()
        for p in server.data_dir.rglob("*")
        if p.is_file()
    }
    assert "trent.db" in files
    for name, content in files.items():
        if name == "root.key":
            continue
        for secret in [*plaintexts, *data_keys, random_bytes, root_key]:
            for form in _forms(secret):
                assert form not in content, f"a secret is readable in {name}"
        if name != "credentials":
            assert secret_access_key.encode() not in content, f"the secret key is in {name}"


# --- several workers, one truth ----------------------------------------------------------------
def _worker_pids(server: TrentServer) -> set[int]:
    assert server.process is not None
    parent = server.process.pid
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                pids.add(int(entry))
    return pids


def _serving_workers(server: TrentServer) -> set[int]:
    """Which worker processes hold an established connection on the server's port."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if int(parts[1].split(":")[1], 16) == server.port and parts[3] == "01":
            inodes.add(parts[9])
    owners = set()
    for pid in _worker_pids(server):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            if match and match.group(1) in inodes:
                owners.add(pid)
    return owners


def clients_on_every_worker(server: TrentServer, warm: Callable[[Any], object]) -> list[Any]:
    """Open clients (each its own connection) until both workers serve some of them; ``warm``
    is called once on each, so every worker has the key in its cache before the change."""
    clients: list[Any] = []
    for _ in range(40):
        client = server.client()
        warm(client)
        clients.append(client)
        if len(clients) >= 6 and len(_serving_workers(server)) >= 2:
            return clients
    raise AssertionError("could not get connections onto two different workers")


CALLS = 40


def test_disable_is_seen_by_every_worker_at_once(
    server: TrentServer, kms: Any, key_id: str
) -> None:
    clients = clients_on_every_worker(server, lambda c: c.encrypt(KeyId=key_id, Plaintext=b"w"))
    kms.disable_key(KeyId=key_id)
    refused = 0
    for i in range(CALLS):
        with pytest.raises(ClientError) as err:
            clients[i % len(clients)].encrypt(KeyId=key_id, Plaintext=b"after disable")
        assert error_code(err) == "DisabledException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        refused += 1
    assert refused == CALLS

    kms.enable_key(KeyId=key_id)
    for i in range(CALLS):
        out = clients[i % len(clients)].encrypt(KeyId=key_id, Plaintext=b"after enable")
        assert out["KeyId"].endswith(key_id)


def test_alias_repointing_is_seen_by_every_worker_at_once(
    server: TrentServer, kms: Any, key_id: str, alias_name: str
) -> None:
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    clients = clients_on_every_worker(server, lambda c: c.encrypt(KeyId=alias_name, Plaintext=b"w"))
    new_key = kms.create_key(Description="new alias target")["KeyMetadata"]
    kms.update_alias(AliasName=alias_name, TargetKeyId=new_key["KeyId"])
    named = {clients[i % len(clients)].encrypt(KeyId=alias_name, Plaintext=b"x")["KeyId"]
             for i in range(CALLS)}  # fmt: skip
    assert named == {new_key["Arn"]}


def test_rotation_is_seen_by_every_worker_at_once(
    server: TrentServer, kms: Any, key_id: str
) -> None:
    old = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    clients = clients_on_every_worker(
        server, lambda c: c.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    )
    kms.rotate_key_on_demand(KeyId=key_id)
    new = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert new != old
    used = set()
    for i in range(CALLS):
        out = clients[i % len(clients)].generate_data_key(KeyId=key_id, KeySpec="AES_256")
        used.add(out["KeyMaterialId"])
        assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["KeyMaterialId"] == new
    assert used == {new}
