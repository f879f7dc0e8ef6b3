"""The compiled request path (trent.native, setup.py): a compiled copy runs only when it was
built from the source on disk, all or none, and ``TRENT_PURE_PYTHON`` turns it off."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from tests.server import TrentServer
from trent import native

SOURCES = {"trent.audit.chain": "a" * 64, "trent.protocol.asgi": "b" * 64}
PROBE = """
import json, trent.native as n
files = {name: __import__(name, fromlist=["_"]).__file__ for name in n.NATIVE_MODULES}
print(json.dumps({"state": n.STATE, "compiled": n.COMPILED, "files": files}))
"""


NO_MANIFEST = "no native.json says what the compiled modules were built from"
NOT_THESE = "the compiled modules are not the ones this version compiles"


@pytest.mark.parametrize(
    ("manifest", "present", "pure", "reason"),
    [
        (SOURCES, set(SOURCES), False, None),
        (SOURCES, set(SOURCES), True, "TRENT_PURE_PYTHON is set"),
        (None, set(SOURCES), False, NO_MANIFEST),
        ({"trent.audit.chain": "a" * 64}, set(SOURCES), False, NOT_THESE),
        (SOURCES, {*SOURCES, "trent.operations.context"}, False, NOT_THESE),  # an orphan
        (SOURCES, {"trent.audit.chain"}, False, NOT_THESE),  # one missing
        (
            {**SOURCES, "trent.protocol.asgi": "c" * 64},
            set(SOURCES),
            False,
            "trent.protocol.asgi changed since it was compiled"
            " (pip install -e . compiles it again)",
        ),
    ],
)
def test_decide(
    manifest: dict[str, str] | None, present: set[str], pure: bool, reason: str | None
) -> None:
    assert native.decide(manifest, SOURCES, present, pure) == reason


def test_the_request_path_runs_as_the_guard_says() -> None:
    """In this process: compiled modules exactly when ``COMPILED`` says so."""
    for name in native.NATIVE_MODULES:
        module = importlib.import_module(name)
        assert module.__file__ is not None
        assert module.__file__.endswith(tuple(EXTENSION_SUFFIXES)) == native.COMPILED, name
    assert native.STATE.startswith("compiled" if native.COMPILED else "pure Python")


def _copy(tmp_path: Path) -> Path:
    """The package's sources in ``tmp_path/trent``, each native module with a "compiled" copy
    beside it that cannot be loaded (not an ELF file): importing one fails loudly."""
    package = tmp_path / "trent"
    shutil.copytree(
        native.PACKAGE_DIR,
        package,
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__", "native.json"),
    )
    for name in native.NATIVE_MODULES:
        source = package.joinpath(*name.split(".")[1:]).with_suffix(".py")
        source.with_name(source.stem + EXTENSION_SUFFIXES[0]).write_bytes(b"not a library")
    return package


def _manifest(package: Path, **changed: str) -> None:
    modules = {
        name: hashlib.sha256(
            package.joinpath(*name.split(".")[1:]).with_suffix(".py").read_bytes()
        ).hexdigest()
        for name in native.NATIVE_MODULES
    }
    (package / "native.json").write_text(json.dumps({"modules": {**modules, **changed}}))


def _probe(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    environ.update(PYTHONPATH=str(root), PYTHONSAFEPATH="1", **env)
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True, timeout=60
    )


def _loaded_from_source(result: subprocess.CompletedProcess[str], package: Path) -> str:
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert not report["compiled"]
    for name, file in report["files"].items():
        assert Path(file) == package.joinpath(*name.split(".")[1:]).with_suffix(".py")
    state: str = report["state"]
    return state


def test_an_edited_source_is_run_instead_of_its_compiled_copy(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    _manifest(package, **{"trent.protocol.sigv4": "0" * 64})
    state = _loaded_from_source(_probe(tmp_path), package)
    assert state == (
        "pure Python: trent.protocol.sigv4 changed since it was compiled "
        "(pip install -e . compiles it again)"
    )


def test_a_compiled_copy_of_a_module_no_longer_compiled_is_not_run(tmp_path: Path) -> None:
    """An orphan (left by an earlier build that compiled more) would run old code: every
    module is then loaded from source, the orphan too (here it could not be loaded at all)."""
    package = _copy(tmp_path)
    _manifest(package)
    orphan = package / "errors" / ("catalogue" + EXTENSION_SUFFIXES[0])  # asgi imports it
    orphan.write_bytes(b"not a library")
    state = _loaded_from_source(_probe(tmp_path), package)
    assert state == f"pure Python: {NOT_THESE}"


def test_compiled_copies_without_a_manifest_are_not_run(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    state = _loaded_from_source(_probe(tmp_path), package)
    assert state == f"pure Python: {NO_MANIFEST}"


def test_trent_pure_python_turns_compiled_copies_off(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    _manifest(package)
    state = _loaded_from_source(_probe(tmp_path, TRENT_PURE_PYTHON="1"), package)
    assert state == "pure Python: TRENT_PURE_PYTHON is set"


def test_compiled_copies_matching_the_manifest_are_the_ones_imported(tmp_path: Path) -> None:
    """The other side of the guard: with the manifest matching, Python imports the copies
    (here unloadable, so the import fails naming one)."""
    package = _copy(tmp_path)
    _manifest(package)
    result = _probe(tmp_path)
    assert result.returncode != 0
    assert EXTENSION_SUFFIXES[0] in result.stderr
    assert "ImportError" in result.stderr


@pytest.mark.parametrize("pure", [True, False], ids=["pure", "as-installed"])
def test_a_server_serves_either_way(tmp_path: Path, pure: bool) -> None:
    """The request path, compiled or from source, answers the same requests; the server says
    at start which way it runs."""
    env = {native.PURE_ENV: "1" if pure else "0"}
    server = TrentServer(tmp_path / "data", workers=1, env=env).start()
    try:
        kms = server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"either way")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"either way"
        pair = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
        assert kms.decrypt(CiphertextBlob=pair["CiphertextBlob"])["Plaintext"] == pair["Plaintext"]
        assert len(kms.generate_random(NumberOfBytes=32)["Plaintext"]) == 32
        with pytest.raises(kms.exceptions.NotFoundException):
            kms.encrypt(KeyId="alias/none", Plaintext=b"x")
    finally:
        server.stop()
    log = (tmp_path / f"server-{server.port}.log").read_text()
    expected = subprocess.run(
        [sys.executable, "-c", "import trent.native as n; print(n.STATE)"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert expected.startswith("pure Python") or not pure
    assert f"request path: {expected}" in log
    records = [r for r in server.audit_records() if r["eventName"] == "Encrypt"]
    assert [r.get("errorCode") for r in records] == [None, "NotFoundException"]
