"""trent admin backup / restore: an online backup while the server serves, restored into a new
data directory that the old root key file opens; every ciphertext made before still decrypts."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.server import TrentServer, free_port


def trent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trent", *args], capture_output=True, text=True, timeout=120
    )


def test_backup_while_serving_then_restore(tmp_path: Path) -> None:
    server = TrentServer(tmp_path / "data")
    restored = TrentServer(tmp_path / "restored")
    try:
        server.start()
        kms = server.client()
        made: dict[bytes, bytes] = {}
        for i in range(5):
            key_id = kms.create_key(Description=f"backed up {i}")["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=f"alias/backup-{i}", TargetKeyId=key_id)
            plaintext = f"before the backup {i}".encode()
            made[kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]] = plaintext
        kms.rotate_key_on_demand(KeyId=key_id)
        made[kms.encrypt(KeyId=key_id, Plaintext=b"after rotation 5f1c")["CiphertextBlob"]] = (
            b"after rotation 5f1c"
        )

        # Back up while another client keeps writing through the server.
        stop = threading.Event()
        errors: list[BaseException] = []

        def write() -> None:
            writer = server.client()
            try:
                for _ in range(200):
                    if stop.is_set():
                        return
                    writer.create_key(Description="during the backup")
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        out = tmp_path / "trent.backup"
        try:
            result = trent("admin", "backup", "--data-dir", str(server.data_dir), "--out", str(out))
        finally:
            stop.set()
            thread.join()
        assert result.returncode == 0, result.stderr
        assert not errors
        assert oct(out.stat().st_mode)[-3:] == "600"

        # Never the root key, in any form; only sealed secrets.
        root = (server.data_dir / "root.key").read_bytes()
        content = out.read_bytes()
        for form in (root, base64.b64encode(root), root.hex().encode()):
            assert form not in content
        for plaintext in made.values():
            assert plaintext not in content
        # A second backup to the same file is refused.
        again = trent("admin", "backup", "--data-dir", str(server.data_dir), "--out", str(out))
        assert again.returncode != 0 and "already exists" in again.stderr

        # Restore: refused into a non-empty directory, done into a new one.
        busy = tmp_path / "busy"
        busy.mkdir()
        (busy / "something").write_text("x")
        refused = trent("admin", "restore", "--from", str(out), "--data-dir", str(busy))
        assert refused.returncode != 0 and "not empty" in refused.stderr
        assert sorted(p.name for p in busy.iterdir()) == ["something"]
        result = trent("admin", "restore", "--from", str(out), "--data-dir", str(restored.data_dir))
        assert result.returncode == 0, result.stderr
        assert not (restored.data_dir / "root.key").exists()

        # Serve it with the old root key file; the old credentials still sign (same access keys).
        server.stop()
        restored.extra_args = ["--root-key-file", str(server.data_dir / "root.key")]
        restored.start()
        (restored.data_dir / "credentials").write_bytes(
            (server.data_dir / "credentials").read_bytes()
        )
        restored_kms: Any = restored.client()
        for blob, plaintext in made.items():
            assert restored_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
        aliases = {a["AliasName"] for a in restored_kms.list_aliases()["Aliases"]}
        assert {f"alias/backup-{i}" for i in range(5)} <= aliases
        assert not (restored.data_dir / "root.key").exists()
    finally:
        server.stop()
        restored.stop()


def test_restore_without_the_root_key_refuses_to_start(tmp_path: Path) -> None:
    server = TrentServer(tmp_path / "data")
    try:
        server.start()
        server.client().create_key()
    finally:
        server.stop()
    out = tmp_path / "b"
    assert trent("admin", "backup", "--data-dir", str(server.data_dir), "--out", str(out))
    new = tmp_path / "new"
    assert trent("admin", "restore", "--from", str(out), "--data-dir", str(new)).returncode == 0
    # A free port, not the default 8080: a README reader's own `trent serve` may hold that one.
    port = str(free_port())
    result = trent("serve", "--data-dir", str(new), "--workers", "1", "--port", port)
    assert result.returncode != 0 and "missing" in result.stderr, result.stderr
    assert not (new / "root.key").exists()  # no new root key over restored data
    other = tmp_path / "other.key"
    other.write_bytes(bytes(32))
    result = trent(
        "serve", "--data-dir", str(new), "--workers", "1", "--port", port,
        "--root-key-file", str(other),
    )  # fmt: skip
    assert result.returncode != 0 and "is not the key" in result.stderr, result.stderr


def test_backup_of_a_postgresql_node_points_at_pg_dump(tmp_path: Path, postgres: Any) -> None:
    """A node of a PostgreSQL store has no trent.db: `trent admin backup` says to use pg_dump
    instead of calling the directory not Trent's (as the README's "Several nodes" says)."""
    node = TrentServer(tmp_path / "node", database_url=postgres.create_database())
    try:
        node.start()
        node.client().create_key(Description="on postgresql")
    finally:
        node.stop()
    out = tmp_path / "backup.db"
    done = trent("admin", "backup", "--data-dir", str(node.data_dir), "--out", str(out))
    assert done.returncode == 1
    assert "is a node of a PostgreSQL database: back it up with pg_dump" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
