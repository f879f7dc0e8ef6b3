"""Which modules run compiled, and the guard that keeps a stale compiled build from running.

The request path's modules (``NATIVE_MODULES``) are compiled to C extensions with mypyc, the
compiler of the mypy project (https://mypyc.readthedocs.io), when Trent is installed
(``setup.py``): the same source, type-checked, run without the interpreter's per-bytecode
work. Each compiled module sits next to its ``.py`` (``asgi.cpython-311-x86_64-linux-gnu.so``
beside ``asgi.py``), and Python's import system prefers it.

So that an edited ``.py`` is never shadowed by an older compiled copy, ``setup.py`` also writes
``MANIFEST`` (``trent/native.json``: the SHA-256 of each module's source when it was compiled),
and ``trent/__init__`` calls ``choose()`` before any of these modules is imported. The compiled
modules are used only when every one of them was compiled from the source now on disk; when
any was not, or the set of modules differs, or ``TRENT_PURE_PYTHON`` is set to anything but
``0``, every one of them is loaded from its ``.py`` instead (all or none: compiled modules call
each other directly, so a mix would run old code). ``STATE`` says which, and why, in one line
(``trent serve`` logs it at start). Run ``pip install -e .`` again to compile the edits.

Only the compiled modules' own sources are checked. What mypyc knew of the modules they use
when it compiled them (the field types of ``trent.store.records``' rows, say) is built in too:
after editing such a module, ``pip install -e .`` again as well.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from pathlib import Path
from types import ModuleType

# The request path of Encrypt, Decrypt, GenerateDataKey and GenerateRandom (bench/README.md,
# "Compiled modules"). Module names, as imported. Not trent.protocol.http: a compiled subclass
# of a class from a dependency (uvicorn's protocol) depends on what the build knows of it.
NATIVE_MODULES = (
    "trent.audit.chain",
    "trent.audit.journal",
    "trent.audit.log",
    "trent.audit.record",
    "trent.authz.conditions",
    "trent.authz.kms",
    "trent.authz.verdict",
    "trent.clock",
    "trent.crypto.ciphertext",
    "trent.crypto.derivation",
    "trent.crypto.encryption_context",
    "trent.identity.credentials",
    "trent.metrics.recorder",
    "trent.operations.context",
    "trent.operations.datakeys",
    "trent.operations.encrypt",
    "trent.operations.keyring",
    "trent.operations.keyuse",
    "trent.operations.states",
    "trent.operations.usage",
    "trent.protocol.asgi",
    "trent.protocol.json11",
    "trent.protocol.shapes",
    "trent.protocol.sigv4",
)
MANIFEST = "native.json"  # in this package's directory; written by setup.py
PURE_ENV = "TRENT_PURE_PYTHON"
PACKAGE_DIR = Path(__file__).parent

STATE = "pure Python (not compiled)"  # set by choose()
COMPILED = False  # True when the compiled modules are the ones imported


def source_path(module: str) -> Path:
    """The ``.py`` of ``module`` (a name in ``NATIVE_MODULES``)."""
    parts = module.split(".")
    return PACKAGE_DIR.joinpath(*parts[1:]).with_suffix(".py")


def source_hash(module: str) -> str:
    """SHA-256 (hex) of ``module``'s source, as ``setup.py`` records it in ``MANIFEST``."""
    return hashlib.sha256(source_path(module).read_bytes()).hexdigest()


def compiled_modules() -> set[str]:
    """The modules of this package that have a compiled copy beside their source."""
    found = set()
    for path in PACKAGE_DIR.rglob("*.*"):
        suffix = next((s for s in EXTENSION_SUFFIXES if path.name.endswith(s)), None)
        if suffix is not None:
            parts = path.relative_to(PACKAGE_DIR).parts
            found.add(".".join(("trent", *parts[:-1], path.name[: -len(suffix)])))
    return found


def decide(
    manifest: dict[str, str] | None,
    current: dict[str, str],
    present: set[str],
    pure_requested: bool,
) -> str | None:
    """Why the compiled modules must not run, or None when they may.

    ``manifest`` maps module names to the source hashes they were compiled from (None: no
    manifest), ``current`` the same for the sources on disk now, ``present`` names the
    modules that have a compiled copy."""
    if pure_requested:
        return f"{PURE_ENV} is set"
    if manifest is None:
        return f"no {MANIFEST} says what the compiled modules were built from"
    if set(manifest) != set(current) or present != set(current):
        return "the compiled modules are not the ones this version compiles"
    changed = sorted(name for name, digest in current.items() if manifest[name] != digest)
    if changed:
        return f"{changed[0]} changed since it was compiled (pip install -e . compiles it again)"
    return None


def _read_manifest() -> dict[str, str] | None:
    try:
        document = json.loads((PACKAGE_DIR / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    modules = document.get("modules") if isinstance(document, dict) else None
    if not isinstance(modules, dict):
        return None
    return {str(name): str(digest) for name, digest in modules.items()}


class SourceFinder(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder that loads ``names`` from their ``.py`` files, ahead of the
    compiled copies beside them (importlib's ``spec_from_file_location`` chooses the source
    loader by the ``.py`` suffix)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname))


def choose() -> None:
    """Decide, once per process and before any of them is imported, whether the compiled
    modules run (see the module's docstring); set ``STATE`` and ``COMPILED``."""
    global STATE, COMPILED
    present = compiled_modules()
    if not present:
        return  # nothing compiled: the sources are all there is
    manifest = _read_manifest()
    current = {name: source_hash(name) for name in NATIVE_MODULES}
    pure_requested = os.environ.get(PURE_ENV, "0") not in ("", "0")
    reason = decide(manifest, current, present, pure_requested)
    if reason is None:
        STATE, COMPILED = f"compiled with mypyc ({len(NATIVE_MODULES)} modules)", True
        return
    STATE = f"pure Python: {reason}"
    named = present | set(NATIVE_MODULES) | set(manifest or ())
    sys.meta_path.insert(0, SourceFinder([name for name in named if source_path(name).exists()]))
