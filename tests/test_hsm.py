"""The PKCS#11 seal against a real SoftHSM2 token: first start makes a non-extractable AES key,
restarts open the data, a wrong PIN or a missing token/module stops the start with one line and
changes nothing, migrate-seal moves data both ways, and a root key rotation's re-seal survives
kill -9 midway."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from pkcs11 import KeyType

from tests.seal.softhsm import MODULE, PIN, SoftHSM, make_token
from tests.server import TrentServer, free_port
from trent.seal import pkcs11 as pkcs11_seal


@pytest.fixture
def hsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SoftHSM:
    token = make_token(tmp_path / "hsm")
    monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
    return token


@pytest.fixture
def hsm_server(tmp_path: Path, hsm: SoftHSM) -> Iterator[TrentServer]:
    server = TrentServer(tmp_path / "data", extra_args=hsm.args())
    yield server
    server.stop()


def trent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trent", *args], capture_output=True, text=True, timeout=120
    )


def serve_once(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return trent(
        "serve", "--data-dir", str(data), "--port", str(free_port()), "--workers", "1", *extra
    )


def dump(database: Path) -> list[str]:
    connection = sqlite3.connect(database)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


_TOKEN_SCRIPT = """
import json, sys
import pkcs11
from pkcs11 import Attribute, ObjectClass
module, token_label, pin, label, action = sys.argv[1:]
token = pkcs11.lib(module).get_token(token_label=token_label)
with token.open(user_pin=pin, rw=True) as session:
    if action == "replace":
        session.get_key(label=label).destroy()
        session.generate_key(pkcs11.KeyType.AES, 256, label=label, store=True)
    found = session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label})
    print(json.dumps([
        [int(k[Attribute.KEY_TYPE]), k[Attribute.VALUE_LEN], k[Attribute.EXTRACTABLE],
         k[Attribute.SENSITIVE], k[Attribute.TOKEN]]
        for k in found
    ]))
"""


def token_keys(hsm: SoftHSM, action: str = "list") -> list[list[Any]]:
    """The token's secret keys labelled trent-root: [CKK, bytes, extractable, sensitive,
    token]. In a process of its own: SoftHSM reads SOFTHSM2_CONF once per process."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _TOKEN_SCRIPT,
            str(MODULE),
            hsm.token_label,
            PIN,
            "trent-root",
            action,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(result.stdout))


def encrypt_some(kms: Any, count: int) -> dict[bytes, bytes]:
    """``count`` keys, a ciphertext under each: ciphertext → plaintext."""
    made = {}
    for i in range(count):
        key_id = kms.create_key(Description=f"hsm {i}")["KeyMetadata"]["KeyId"]
        plaintext = f"secret number {i}".encode()
        made[kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]] = plaintext
    return made


def all_decrypt(kms: Any, made: dict[bytes, bytes]) -> None:
    for blob, plaintext in made.items():
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext


def test_first_start_makes_a_non_extractable_key_and_restarts(
    hsm: SoftHSM, hsm_server: TrentServer
) -> None:
    assert token_keys(hsm) == []
    hsm_server.start()
    assert token_keys(hsm) == [[int(KeyType.AES), 32, False, True, True]]
    kms = hsm_server.client()
    made = encrypt_some(kms, 3)
    data_key = kms.generate_data_key(KeyId=kms.list_keys()["Keys"][0]["KeyId"], KeySpec="AES_256")
    assert not (hsm_server.data_dir / "root.key").exists()
    assert not any(p.name.endswith(".key") for p in hsm_server.data_dir.rglob("*"))
    hsm_server.stop()
    hsm_server.start()
    assert len(token_keys(hsm)) == 1  # the restart found the key, made no other
    kms = hsm_server.client()
    all_decrypt(kms, made)
    blob = data_key["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == data_key["Plaintext"]
    # A file seal cannot open it, and says which seal the data needs.
    hsm_server.stop()
    one_line_error(serve_once(hsm_server.data_dir), "pkcs11 seal")


@pytest.mark.parametrize("what", ["pin", "token", "module", "pin file"])
def test_wrong_pin_or_missing_token_or_module(
    tmp_path: Path, hsm: SoftHSM, hsm_server: TrentServer, what: str
) -> None:
    wrong_pin = tmp_path / "wrong-pin"
    wrong_pin.write_text("0000\n")
    if what == "pin":
        args, fragments = hsm.args(pin_file=wrong_pin), ("wrong PIN", hsm.token_label)
    elif what == "token":
        args, fragments = hsm.args(token="no-such-token"), ("no-such-token",)
    elif what == "module":
        args = hsm.args()
        args[args.index(str(MODULE))] = str(tmp_path / "libnothing.so")
        fragments = ("module", "libnothing.so")
    else:
        args, fragments = hsm.args(pin_file=tmp_path / "absent"), ("PIN file", "absent")
    # A new data directory: nothing is made, not even the directory or a key in the token.
    new = tmp_path / "new"
    one_line_error(serve_once(new, *args), *fragments)
    assert not new.exists()
    assert token_keys(hsm) == []
    # A data directory in use: it and the token stay as they were; the right options serve it.
    hsm_server.start()
    made = encrypt_some(hsm_server.client(), 1)
    hsm_server.stop()
    before = dump(hsm_server.data_dir / "trent.db")
    one_line_error(serve_once(hsm_server.data_dir, *args), *fragments)
    assert dump(hsm_server.data_dir / "trent.db") == before
    assert len(token_keys(hsm)) == 1
    hsm_server.start()
    all_decrypt(hsm_server.client(), made)


def test_another_key_in_the_token_is_refused(hsm: SoftHSM, hsm_server: TrentServer) -> None:
    hsm_server.start()
    hsm_server.stop()
    assert len(token_keys(hsm, "replace")) == 1
    before = dump(hsm_server.data_dir / "trent.db")
    one_line_error(serve_once(hsm_server.data_dir, *hsm.args()), "is not the key")
    assert dump(hsm_server.data_dir / "trent.db") == before


def test_migrate_seal_both_ways(tmp_path: Path, hsm: SoftHSM) -> None:
    data = tmp_path / "data"
    server = TrentServer(data)
    try:
        server.start()
        made = encrypt_some(server.client(), 3)
        server.stop()
        old_root = data / "root.key"
        # A target that cannot be opened (wrong PIN): refused, the file seal still works.
        wrong_pin = tmp_path / "wrong-pin"
        wrong_pin.write_text("0000\n")
        to = hsm.to_args()
        to[to.index(str(hsm.pin_file))] = str(wrong_pin)
        before = dump(data / "trent.db")
        one_line_error(trent("admin", "migrate-seal", "--data-dir", str(data), *to), "wrong PIN")
        assert dump(data / "trent.db") == before
        # File → PKCS#11.
        result = trent("admin", "migrate-seal", "--data-dir", str(data), *hsm.to_args())
        assert result.returncode == 0, result.stderr
        assert len(token_keys(hsm)) == 1
        one_line_error(serve_once(data), "pkcs11 seal")  # the file seal no longer opens it
        old_root.rename(tmp_path / "old.key")
        server.extra_args = hsm.args()
        server.start()
        all_decrypt(server.client(), made)
        made |= encrypt_some(server.client(), 2)
        server.stop()
        # PKCS#11 → a new root key file outside the data directory.
        new_root = tmp_path / "new.key"
        result = trent(
            "admin",
            "migrate-seal",
            "--data-dir",
            str(data),
            *hsm.args(),
            "--to",
            "file",
            "--to-root-key-file",
            str(new_root),
        )
        assert result.returncode == 0, result.stderr
        assert len(new_root.read_bytes()) == 32 and oct(new_root.stat().st_mode)[-3:] == "600"
        one_line_error(serve_once(data, *hsm.args()), "file seal")
        server.extra_args = ["--root-key-file", str(new_root)]
        server.start()
        all_decrypt(server.client(), made)
    finally:
        server.stop()


def stale(data: Path, version: int) -> int:
    """Stored sealed values not under ``version``."""
    prefix = b"\x02" + version.to_bytes(4, "big")
    connection = sqlite3.connect(data / "trent.db")
    try:
        total = 0
        for table, column in (("materials", "sealed"), ("access_keys", "sealed_secret")):
            rows = connection.execute(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")
            total += sum(1 for (value,) in rows if not bytes(value).startswith(prefix))
        return total
    finally:
        connection.close()


def test_rotate_root_key_and_reseal_resumed_after_kill(
    hsm: SoftHSM, hsm_server: TrentServer
) -> None:
    hsm_server.start()
    kms = hsm_server.client()
    made = encrypt_some(kms, 40)
    data = hsm_server.data_dir
    admin = ("--data-dir", str(data), *hsm.args())
    assert stale(data, 2) == 41  # 40 materials and the admin's access key, all version 1

    # Rotation while the server runs: what is written from then on is sealed under version 2.
    result = trent("admin", "rotate-root-key", *admin)
    assert result.returncode == 0 and "version 2" in result.stdout, result.stderr
    after = encrypt_some(kms, 2)
    assert stale(data, 2) == 41
    all_decrypt(kms, made | after)

    # Re-seal one value per transaction; kill -9 once some have moved.
    reseal = subprocess.Popen(
        [sys.executable, "-m", "trent", "admin", "reseal", *admin, "--batch", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reseal.stdout is not None
    first = reseal.stdout.readline()
    os.kill(reseal.pid, signal.SIGKILL)
    reseal.wait()
    assert first.startswith("resealed 1 ")
    left = stale(data, 2)
    assert 0 < left < 41, left  # killed midway
    all_decrypt(kms, made | after)  # the running workers open both versions meanwhile

    result = trent("admin", "reseal", *admin)
    assert result.returncode == 0, result.stderr
    assert f"{left} values resealed; 0 not under version 2" in result.stdout
    assert stale(data, 2) == 0
    all_decrypt(kms, made | after)
    hsm_server.stop()
    hsm_server.start()
    all_decrypt(hsm_server.client(), made | after)
    result = trent("admin", "reseal", *admin)
    assert "0 values resealed; 0 not under version 2" in result.stdout


def test_a_general_error_while_opening_the_token_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Workers that open a SoftHSM2 token at the same moment can get CKR_GENERAL_ERROR (seen
    as a restart that failed one time in ten under load): it is tried again, a few times,
    and only the last failure is raised."""
    monkeypatch.setattr(pkcs11_seal, "TRANSIENT_PAUSE_S", 0.0)
    attempts = pkcs11_seal.TRANSIENT_ATTEMPTS

    def scripted(*outcomes: Exception | str) -> tuple[Callable[[], str], list[int]]:
        """A call that raises or returns ``outcomes`` in turn (the last one from then on)."""
        calls: list[int] = []

        def call() -> str:
            calls.append(1)
            outcome = outcomes[min(len(calls), len(outcomes)) - 1]
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        return call, calls

    flaky, calls = scripted(pkcs11.GeneralError(), pkcs11.GeneralError(), "open")
    assert pkcs11_seal._transient_retried(flaky) == "open" and len(calls) == 3
    broken, calls = scripted(pkcs11.GeneralError())
    with pytest.raises(pkcs11.GeneralError):
        pkcs11_seal._transient_retried(broken)
    assert len(calls) == attempts
    wrong_pin, calls = scripted(pkcs11.PinIncorrect())
    with pytest.raises(pkcs11.PinIncorrect):
        pkcs11_seal._transient_retried(wrong_pin)
    assert len(calls) == 1  # only a general error is tried again


_LATE_TOKEN = """
import sys
from pathlib import Path
import pkcs11
from tests.seal.softhsm import init_token
from trent.seal import pkcs11 as seal
seal.TRANSIENT_PAUSE_S = 0.0
lib = pkcs11.lib(sys.argv[1])
try:
    lib.get_token(token_label="late")
    sys.exit("the token exists before it is made")
except pkcs11.NoSuchToken:
    pass
init_token(Path(sys.argv[2]), "late")
try:
    lib.get_token(token_label="late")
    print("seen without initializing again")
except pkcs11.NoSuchToken:
    print("unseen until the library is initialized again")
print("found", seal._find_token(lib, sys.argv[1], "late").label)
"""


def test_a_token_written_after_the_library_was_initialized_is_found(tmp_path: Path) -> None:
    """SoftHSM2 reads its token directory when the library is initialized: a worker that
    initialized it while another process was writing the token does not see the token until
    it initializes the library again, which ``_find_token`` does between its attempts (in a
    process of its own: reinitializing ends every session of the process)."""
    conf = make_token(tmp_path, "first").conf  # the library starts with this one only
    result = subprocess.run(
        [sys.executable, "-c", _LATE_TOKEN, str(MODULE), str(conf)],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "unseen until the library is initialized again" in result.stdout
    assert "found late" in result.stdout
