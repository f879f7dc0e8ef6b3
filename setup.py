"""Build step of ``pip install``: compile the request path's modules with mypyc.

Everything else about the package is in ``pyproject.toml``. The modules are the ones
``trent.native.NATIVE_MODULES`` names (read here without importing Trent). After a successful
build, ``trent/native.json`` records the SHA-256 of each module's source, so that an edited
source is never shadowed by an older compiled copy (``trent.native.choose``).

No C compiler, ``TRENT_PURE_PYTHON=1`` at install time, or any failure of the compilation:
Trent is installed as pure Python, which runs the same code more slowly, and the build says
why on its output.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
NATIVE = ROOT / "trent" / "native.py"


def native_modules() -> list[str]:
    """``NATIVE_MODULES`` as ``trent/native.py`` assigns it."""
    for node in ast.parse(NATIVE.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "NATIVE_MODULES"
        ):
            return list(ast.literal_eval(node.value))
    raise RuntimeError("trent/native.py assigns no NATIVE_MODULES")


def source_of(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def say(message: str) -> None:
    print(f"trent build: {message}", file=sys.stderr)


def remove_compiled(root: Path, keep: frozenset[str] = frozenset()) -> None:
    """Delete the compiled copies under ``root`` (the source tree, or a build directory) of
    every module not in ``keep``; with ``keep`` empty, also the manifest and the group
    library: what an earlier build left must not outlive a build that compiles less (an
    orphan makes ``trent.native`` refuse every compiled module; a stale set would run)."""
    from importlib.machinery import EXTENSION_SUFFIXES

    paths = list((root / "trent").rglob("*.*")) if (root / "trent").is_dir() else []
    if not keep:
        paths += root.glob("trent_native__mypyc*")
        (root / "trent" / "native.json").unlink(missing_ok=True)
    for path in paths:
        suffix = next((s for s in EXTENSION_SUFFIXES if path.name.endswith(s)), None)
        if suffix is None:
            continue
        parts = path.relative_to(root).parts
        if ".".join((*parts[:-1], path.name[: -len(suffix)])) not in keep:
            path.unlink()


class BuildNative(build_ext):
    """``build_ext`` that falls back to pure Python when the compiler fails, and writes the
    manifest of what it compiled when it succeeds."""

    def run(self) -> None:
        keep = frozenset(MODULES)
        remove_compiled(ROOT, keep)
        remove_compiled(Path(self.build_lib), keep)
        try:
            super().run()
        except Exception as exc:  # no compiler, no Python headers, a compiler error
            say(f"compiling failed, Trent is installed as pure Python: {exc}")
            remove_compiled(ROOT)
            remove_compiled(Path(self.build_lib))
            return
        manifest = Path(self.get_ext_fullpath("trent.native")).with_name("native.json")
        modules = {
            name: hashlib.sha256(source_of(name).read_bytes()).hexdigest() for name in MODULES
        }
        manifest.write_text(json.dumps({"modules": modules}, indent=1, sort_keys=True) + "\n")
        say(f"compiled {len(MODULES)} modules with mypyc; manifest {manifest}")


def extensions() -> list[Any]:
    if os.environ.get("TRENT_PURE_PYTHON", "0") not in ("", "0"):
        say("TRENT_PURE_PYTHON is set: nothing compiled")
        remove_compiled(ROOT)  # an earlier editable build's copies would still run
        return []
    try:
        from mypyc.build import mypycify

        # Trent's dependencies' types are unknown here (Any), which mypyc compiles as ordinary
        # Python calls; `mypy trent` (strict, with them installed) is the type check. Never
        # from the target environment (mypy looks there by default): a first install builds
        # before its dependencies are installed and a second one after, and the two builds
        # differed (a subclass of uvicorn's protocol compiled without an instance __dict__
        # crashed the first). --no-site-packages makes every build the same.
        return list(
            mypycify(
                [
                    "--config-file=",
                    "--no-site-packages",
                    "--ignore-missing-imports",
                    "--follow-imports=silent",
                    "--python-version=3.11",
                    *(str(source_of(name).relative_to(ROOT)) for name in MODULES),
                ],
                opt_level="3",
                group_name="trent_native",
            )
        )
    except Exception as exc:  # mypyc missing, or it refused a module
        say(f"mypyc could not compile, Trent is installed as pure Python: {exc}")
        remove_compiled(ROOT)
        return []


MODULES = native_modules()
setup(ext_modules=extensions(), cmdclass={"build_ext": BuildNative})
