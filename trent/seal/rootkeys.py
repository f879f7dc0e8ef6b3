"""The root keyring: every version of the root key, each wrapped by the seal, kept with the data.

Stored as one ``meta`` row (``root_keyring``), so that a rotation or a change of seal is a single
atomic write::

    {"seal": "file" | "pkcs11", "newest": N,
     "versions": {"1": {"wrapped": base64, "created_at": epoch seconds}, ...}}

``wrapped`` is the seal's wrapping of the 32-byte key with context ``b"root key version N"``.
The check value (``trent.seal.check``) of version 1 is stored beside it (``root_key_check``):
it identifies the keyring, whatever seal guards it. Plain keys are never stored.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

import orjson

from trent.seal.barrier import KeyringView
from trent.seal.check import check_value, matches
from trent.seal.errors import SealError
from trent.seal.file import ROOT_KEY_BYTES, Seal

KEYRING_META = "root_keyring"
CHECK_META = "root_key_check"


class MetaStore(Protocol):
    def get_meta(self, name: str) -> str | None: ...
    def set_meta(self, name: str, value: str) -> None: ...
    def write(self) -> AbstractContextManager[None]: ...
    def changes(self) -> tuple[int, int]: ...


class KeyringMismatch(SealError):
    """The seal opens a keyring, but not the one the data's check value names."""


def _context(version: int) -> bytes:
    return f"root key version {version}".encode()


def recorded_seal(store: MetaStore) -> str | None:
    """The kind of seal the stored keyring is wrapped by, or None before there is one."""
    raw = store.get_meta(KEYRING_META)
    return None if raw is None else str(orjson.loads(raw)["seal"])


def _unwrap_all(record: dict[str, Any], seal: Seal) -> KeyringView:
    keys = {
        int(version): seal.unwrap(base64.b64decode(entry["wrapped"]), _context(int(version)))
        for version, entry in record["versions"].items()
    }
    return KeyringView(keys, int(record["newest"]))


def _record(seal: Seal, view: KeyringView, created: dict[int, float]) -> str:
    versions = {
        str(version): {
            "wrapped": base64.b64encode(seal.wrap(key, _context(version))).decode(),
            "created_at": created[version],
        }
        for version, key in sorted(view.keys.items())
    }
    return orjson.dumps({"seal": seal.kind, "newest": view.newest, "versions": versions}).decode()


def _created(store: MetaStore) -> dict[int, float]:
    raw = store.get_meta(KEYRING_META)
    if raw is None:
        return {}
    return {int(v): float(e["created_at"]) for v, e in orjson.loads(raw)["versions"].items()}


def load(store: MetaStore, seal: Seal) -> KeyringView:
    """Unwrap the stored keyring with ``seal`` and check it against the stored check value.

    ``SealError`` when the keyring is wrapped by another kind of seal or does not open under
    this one; ``KeyringMismatch`` when it opens but is not the data's."""
    raw = store.get_meta(KEYRING_META)
    if raw is None:
        raise SealError("the data has no root keyring")
    record = orjson.loads(raw)
    if record["seal"] != seal.kind:
        raise SealError(
            f"the data is sealed by the {record['seal']} seal, not the {seal.kind} seal "
            f"(pass --seal {record['seal']} and its options, or use `trent admin migrate-seal`)"
        )
    view = _unwrap_all(record, seal)
    stored = store.get_meta(CHECK_META)
    if stored is not None and not matches(view.keys[1], stored):
        raise KeyringMismatch(f"{seal.describe()} opens a root keyring that is not this data's")
    return view


def create(store: MetaStore, seal: Seal, now: float, first_key: bytes | None = None) -> KeyringView:
    """Store a keyring of one version: ``first_key`` (a legacy root key file's key, which the
    data was sealed under) or 32 fresh random bytes. Call inside ``store.write()``."""
    key = first_key if first_key is not None else os.urandom(ROOT_KEY_BYTES)
    view = KeyringView({1: key}, 1)
    store.set_meta(KEYRING_META, _record(seal, view, {1: now}))
    store.set_meta(CHECK_META, check_value(key))
    return view


def rotate(store: MetaStore, seal: Seal, now: float) -> int:
    """Add a fresh version, which seals everything written from now on; returns its number.
    Older versions stay and keep opening what they sealed."""
    with store.write():
        view = load(store, seal)
        version = max(view.keys) + 1
        keys = {**view.keys, version: os.urandom(ROOT_KEY_BYTES)}
        created = {**_created(store), version: now}
        store.set_meta(KEYRING_META, _record(seal, KeyringView(keys, version), created))
    return version


def rewrap(store: MetaStore, old: Seal, new: Seal) -> KeyringView:
    """Wrap every version with ``new`` instead of ``old`` in one write: a crash before it
    commits leaves the keyring wrapped by ``old``, after it by ``new``."""
    with store.write():
        view = load(store, old)
        store.set_meta(KEYRING_META, _record(new, view, _created(store)))
    return view


class Refresher:
    """Barrier refresh for a long-lived process: re-reads the stored keyring only when the
    store changed (``changes()``, no query) and unwraps it only when it differs."""

    def __init__(self, store: MetaStore, seal: Seal) -> None:
        self.store = store
        self.seal = seal
        self._seen = store.changes()
        self._raw = store.get_meta(KEYRING_META)

    def __call__(self, force: bool = False) -> KeyringView | None:
        """The stored keyring when it changed since the last call, else None. ``force`` reads
        it even when the store reports no change (a value needs a version not yet seen). A
        seal that fails now (a token gone) leaves the keyring in use as it was."""
        seen = self.store.changes()
        if seen == self._seen and not force:
            return None
        self._seen = seen
        raw = self.store.get_meta(KEYRING_META)
        if raw == self._raw or raw is None:
            return None
        try:
            view = load(self.store, self.seal)
        except SealError:
            return None
        self._raw = raw
        return view


def versions(store: MetaStore) -> Iterator[tuple[int, float]]:
    """(version, created at) of each stored version, oldest first."""
    yield from sorted(_created(store).items())
