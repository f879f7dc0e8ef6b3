"""trent.crypto.encryption_context.canonical: the unambiguous byte form bound as AAD."""

from __future__ import annotations

import struct

from trent.crypto.encryption_context import canonical


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def test_layout() -> None:
    assert canonical({"b": "22", "a": "1"}) == (
        u32(2) + u32(1) + b"a" + u32(1) + b"1" + u32(1) + b"b" + u32(2) + b"22"
    )


def test_order_independent() -> None:
    forward = {"tenant": "acme", "purpose": "invoices", "zone": "eu"}
    backward = dict(reversed(list(forward.items())))
    assert list(forward) != list(backward)
    assert canonical(forward) == canonical(backward)


def test_length_prefixes_keep_contexts_apart() -> None:
    assert canonical({"a": "bc"}) != canonical({"ab": "c"})
    assert canonical({"a": "b", "c": "d"}) != canonical({"a": "bcd"})
    assert canonical({"a": ""}) != canonical({})
    assert canonical({"": "a"}) != canonical({"a": ""})


def test_case_matters() -> None:
    assert canonical({"Key": "v"}) != canonical({"key": "v"})
    assert canonical({"k": "V"}) != canonical({"k": "v"})


def test_empty_and_none_are_equal() -> None:
    assert canonical(None) == canonical({}) == u32(0)


def test_non_ascii_uses_utf8_byte_lengths() -> None:
    key, value = "ключ", "значение ✓"
    encoded_key, encoded_value = key.encode("utf-8"), value.encode("utf-8")
    assert len(encoded_key) != len(key)
    assert canonical({key: value}) == (
        u32(1) + u32(len(encoded_key)) + encoded_key + u32(len(encoded_value)) + encoded_value
    )
    assert canonical({"é": "x"}) != canonical({"e\u0301": "x"})  # no normalization


def test_sorted_by_key_bytes() -> None:
    out = canonical({"é": "1", "z": "2", "A": "3"})
    # "A" (0x41) < "z" (0x7a) < "é" (0xc3 0xa9)
    assert out.index(b"A") < out.index(b"z") < out.index("é".encode())
