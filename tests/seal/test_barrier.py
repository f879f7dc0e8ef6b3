"""trent.seal.Barrier: sealing secrets for storage, bound to their owner and purpose."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trent.seal import Barrier, BarrierError, KeyringView

ROOT = os.urandom(32)
OWNER = "1234abcd-12ab-34cd-56ef-1234567890ab/" + "ab" * 32


@pytest.fixture
def barrier() -> Barrier:
    return Barrier(ROOT)


@pytest.mark.parametrize("size", [0, 1, 32, 1000])
def test_round_trip(barrier: Barrier, size: int) -> None:
    secret = os.urandom(size)
    sealed = barrier.seal("key-material", OWNER, secret)
    if size >= 16:
        assert secret not in sealed
    assert barrier.open("key-material", OWNER, sealed) == secret
    # A second barrier over the same root key (another worker, a restart) opens it too.
    assert Barrier(ROOT).open("key-material", OWNER, sealed) == secret


def test_sealing_twice_differs(barrier: Barrier) -> None:
    assert barrier.seal("p", OWNER, b"s") != barrier.seal("p", OWNER, b"s")


def _subkey(root: bytes) -> AESGCM:
    info = b"trent barrier v1"
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(root))


AAD = b"trent-barrier\x00key-material\x00" + OWNER.encode()


def test_documented_layout_opens_independently(barrier: Barrier) -> None:
    """0x02 || version (4, big-endian) || nonce (12) || AES-256-GCM under HKDF-SHA256(root key of
    that version, info "trent barrier v1"), associated data ``trent-barrier\\0 purpose \\0
    owner``."""
    sealed = barrier.seal("key-material", OWNER, b"material")
    assert sealed[:5] == b"\x02\x00\x00\x00\x01"
    assert _subkey(ROOT).decrypt(sealed[5:17], sealed[17:], AAD) == b"material"


def test_legacy_layout_opens_under_version_one() -> None:
    """Values written before the keyring (0x01 || nonce || GCM under the root key file's key)
    open under version 1 of a keyring whose version 1 is that key, next to newer versions."""
    nonce = os.urandom(12)
    legacy = b"\x01" + nonce + _subkey(ROOT).encrypt(nonce, b"old", AAD)
    two = os.urandom(32)
    barrier = Barrier(KeyringView({1: ROOT, 2: two}, 2))
    assert barrier.open("key-material", OWNER, legacy) == b"old"
    fresh = barrier.seal("key-material", OWNER, b"new")
    assert fresh[:5] == b"\x02\x00\x00\x00\x02"
    assert _subkey(two).decrypt(fresh[5:17], fresh[17:], AAD) == b"new"


def test_keyring_versions() -> None:
    """Older versions open what they sealed; an unknown version asks the refresh hook once
    (forced), and fails as a BarrierError when it is still unknown."""
    one, two = os.urandom(32), os.urandom(32)
    old = Barrier(KeyringView({1: one}, 1))
    sealed_one = old.seal("p", OWNER, b"v1")
    asked: list[bool] = []
    current = KeyringView({1: one}, 1)

    def refresh(force: bool) -> KeyringView | None:
        asked.append(force)
        return current

    barrier = Barrier(KeyringView({1: one}, 1), refresh=refresh)
    newer = Barrier(KeyringView({1: one, 2: two}, 2))
    sealed_two = newer.seal("p", OWNER, b"v2")
    with pytest.raises(BarrierError):
        barrier.open("p", OWNER, sealed_two)
    assert asked == [True]
    current = KeyringView({1: one, 2: two}, 2)  # rotated elsewhere
    assert barrier.open("p", OWNER, sealed_two) == b"v2"
    assert barrier.open("p", OWNER, sealed_one) == b"v1"
    assert barrier.seal("p", OWNER, b"x")[:5] == b"\x02\x00\x00\x00\x02"
    with pytest.raises(BarrierError):
        old.open("p", OWNER, sealed_two)


@pytest.mark.parametrize(
    ("purpose", "owner"),
    [
        ("key-material", OWNER[:-1] + "c"),  # another owner
        ("key-material", "other"),
        ("access-key", OWNER),  # another purpose
        ("key-material\x00" + OWNER, ""),  # the separator cannot be shifted
    ],
)
def test_other_owner_or_purpose_fails(barrier: Barrier, purpose: str, owner: str) -> None:
    sealed = barrier.seal("key-material", OWNER, b"secret")
    with pytest.raises(BarrierError):
        barrier.open(purpose, owner, sealed)


def test_other_root_key_fails(barrier: Barrier) -> None:
    sealed = barrier.seal("key-material", OWNER, b"secret")
    with pytest.raises(BarrierError):
        Barrier(os.urandom(32)).open("key-material", OWNER, sealed)


def test_every_flipped_bit_fails(barrier: Barrier) -> None:
    sealed = barrier.seal("key-material", OWNER, os.urandom(32))
    for pos in range(len(sealed)):
        for bit in (0, 7):
            tampered = bytearray(sealed)
            tampered[pos] ^= 1 << bit
            with pytest.raises(BarrierError):
                barrier.open("key-material", OWNER, bytes(tampered))


@pytest.mark.parametrize("length", [0, 1, 4, 5, 17, 32])
def test_truncated_fails(barrier: Barrier, length: int) -> None:
    sealed = barrier.seal("key-material", OWNER, b"")
    assert len(sealed) == 33
    with pytest.raises(BarrierError):
        barrier.open("key-material", OWNER, sealed[:length])
