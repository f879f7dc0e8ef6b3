"""Re-seal: move every stored sealed value to the newest root key version.

Walks ``trent.store.sealed.SEALED_COLUMNS`` in batches, one transaction per batch; each value is
opened (under whichever version sealed it) and sealed again under the newest, and swapped only
if the row still holds what was read. A crash loses at most the batch in flight; running it
again picks up what is left (values already under the newest version are skipped), so it is
resumable and idempotent. Safe while the server runs.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from trent.seal.barrier import Barrier, version_prefix
from trent.store.sealed import SEALED_COLUMNS, SealedColumn, SealedValue

DEFAULT_BATCH = 100


class ResealStore(Protocol):
    def write(self) -> AbstractContextManager[None]: ...
    def sealed_values_without(
        self, column: SealedColumn, prefix: bytes, limit: int
    ) -> list[SealedValue]: ...
    def replace_sealed(self, value: SealedValue, resealed: bytes) -> bool: ...


@dataclass(frozen=True)
class Progress:
    """After each committed batch: the column, values moved in it, and moved so far overall."""

    column: SealedColumn
    moved: int
    total: int


def reseal(
    store: ResealStore,
    barrier: Barrier,
    batch: int = DEFAULT_BATCH,
    on_batch: Callable[[Progress], None] | None = None,
) -> int:
    """Move every sealed value to ``barrier.newest``; returns how many moved. ``BarrierError``
    when a stored value opens under no version of the keyring (nothing of that batch moves)."""
    total = 0
    for column in SEALED_COLUMNS:
        while True:
            with store.write():
                prefix = version_prefix(barrier.newest)
                values = store.sealed_values_without(column, prefix, batch)
                moved = 0
                for value in values:
                    plain = barrier.open(column.purpose, value.owner, value.sealed)
                    fresh = barrier.seal(column.purpose, value.owner, plain)
                    moved += store.replace_sealed(value, fresh)
            if not values:
                break
            total += moved
            if on_batch is not None:
                on_batch(Progress(column, moved, total))
    return total


def count_stale(store: ResealStore, newest: int) -> dict[str, int]:
    """How many values of each column are not under ``newest`` (``table.column`` → count)."""
    counts: dict[str, int] = {}
    for column in SEALED_COLUMNS:
        n = len(store.sealed_values_without(column, version_prefix(newest), 1 << 62))
        counts[f"{column.table}.{column.column}"] = n
    return counts
