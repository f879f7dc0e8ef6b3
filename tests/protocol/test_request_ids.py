"""Request and event ids: RFC 9562 version-4 UUIDs, never repeated (drawn in batches)."""

from __future__ import annotations

import uuid

from trent.protocol.asgi import _ID_BATCH, _new_ids


def test_ids_are_version_4_uuids_and_never_repeat() -> None:
    seen: set[str] = set()
    for _ in range(3 * _ID_BATCH + 7):  # crosses several refills of the batch
        for text in _new_ids():
            parsed = uuid.UUID(text)
            assert parsed.version == 4
            assert parsed.variant == uuid.RFC_4122
            assert str(parsed) == text
            seen.add(text)
    assert len(seen) == 2 * (3 * _ID_BATCH + 7)


def test_variant_digit_takes_all_four_values() -> None:
    digits = {_new_ids()[0][19] for _ in range(400)}
    assert digits == set("89ab")
