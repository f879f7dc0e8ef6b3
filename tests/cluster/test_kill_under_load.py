"""kill -9 of one node under load (CreateKey, Encrypt, ImportKeyMaterial through both nodes):
no acknowledged change is lost, and the other node keeps answering throughout (issue 11)."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.pg import PostgresCluster
from tests.server import TrentServer

OPS_BEFORE_KILL = 24  # acknowledged operations through the node that is killed
OPS_AFTER_KILL = 24  # acknowledged operations through the survivor after the kill


@dataclass
class Acknowledged:
    keys: list[str] = field(default_factory=list)
    ciphertexts: list[tuple[bytes, bytes]] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        return len(self.keys) + len(self.ciphertexts) + len(self.imported)


def import_key(kms: Any) -> str:
    key_id = str(kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"])
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=public.encrypt(os.urandom(32), oaep),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    return key_id


def load(
    kms: Any, shared_key: str, ack: Acknowledged, stop: threading.Event, errors: list[str]
) -> None:
    """CreateKey, Encrypt and an import in turn until ``stop``; what was answered goes into
    ``ack``, what failed into ``errors``."""
    turn = 0
    while not stop.is_set():
        turn += 1
        try:
            if turn % 3 == 0:
                key_id = str(kms.create_key()["KeyMetadata"]["KeyId"])
                with ack.lock:
                    ack.keys.append(key_id)
            elif turn % 3 == 1:
                plaintext = os.urandom(16)
                blob = kms.encrypt(KeyId=shared_key, Plaintext=plaintext)["CiphertextBlob"]
                with ack.lock:
                    ack.ciphertexts.append((blob, plaintext))
            else:
                imported = import_key(kms)
                with ack.lock:
                    ack.imported.append(imported)
        except (ClientError, BotoCoreError) as exc:
            errors.append(repr(exc))


def wait_until(predicate: Any, failed: list[str]) -> None:
    while not predicate():
        assert not failed, failed[:3]
        threading.Event().wait(0.05)


def test_kill_9_under_load_loses_no_acknowledged_change(
    tmp_path: Path, postgres: PostgresCluster
) -> None:
    url = postgres.create_database()
    root_key = tmp_path / "root.key"
    servers = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        server = TrentServer(tmp_path / name / "data", database_url=url, root_key_file=root_key)
        servers.append(server.start())
    victim, survivor = servers
    try:
        shared_key = survivor.client().create_key()["KeyMetadata"]["KeyId"]
        on_victim, on_survivor = Acknowledged(), Acknowledged()
        victim_errors: list[str] = []
        survivor_errors: list[str] = []
        stop_victim, stop_survivor = threading.Event(), threading.Event()
        threads = [
            threading.Thread(
                target=load,
                args=(victim.client(), shared_key, on_victim, stop_victim, victim_errors),
            ),
            threading.Thread(
                target=load,
                args=(survivor.client(), shared_key, on_survivor, stop_survivor, survivor_errors),
            ),
        ]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: on_victim.count() >= OPS_BEFORE_KILL, survivor_errors)
            victim.stop(signal.SIGKILL)
            after = on_survivor.count()
            wait_until(lambda: on_survivor.count() >= after + OPS_AFTER_KILL, survivor_errors)
        finally:
            stop_victim.set()
            stop_survivor.set()
            for thread in threads:
                thread.join(timeout=60)
        assert survivor_errors == []  # the other node answered throughout

        kms = survivor.client()
        for ack in (on_victim, on_survivor):
            for key_id in ack.keys:
                assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
            for blob, plaintext in ack.ciphertexts:
                assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
            for key_id in ack.imported:
                assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
                kms.encrypt(KeyId=key_id, Plaintext=b"imported material is there")
        assert on_victim.keys and on_victim.ciphertexts and on_victim.imported
    finally:
        for server in servers:
            server.stop()
