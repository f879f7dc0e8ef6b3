"""trent.seal.Barrier: sealing secrets for storage, bound to their owner and purpose."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trent.seal import Barrier, BarrierError

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


def test_documented_layout_opens_independently(barrier: Barrier) -> None:
    """version 0x01 || nonce (12) || AES-256-GCM under HKDF-SHA256(root, info "trent barrier v1"),
    associated data ``trent-barrier\\0 purpose \\0 owner``."""
    sealed = barrier.seal("key-material", OWNER, b"material")
    assert sealed[0] == 0x01
    subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"trent barrier v1").derive(
        ROOT
    )
    aad = b"trent-barrier\x00key-material\x00" + OWNER.encode()
    assert AESGCM(subkey).decrypt(sealed[1:13], sealed[13:], aad) == b"material"


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


@pytest.mark.parametrize("length", [0, 1, 13, 28])
def test_truncated_fails(barrier: Barrier, length: int) -> None:
    sealed = barrier.seal("key-material", OWNER, b"")
    assert len(sealed) == 29
    with pytest.raises(BarrierError):
        barrier.open("key-material", OWNER, sealed[:length])
