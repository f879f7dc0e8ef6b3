"""A change counter that the processes sharing one SQLite database bump after each commit.

Every worker checks, before each request, whether another process committed since it last
looked (``SQLiteStore.data_version``). ``PRAGMA data_version`` answers that with a query, about
2.6 µs here and twice that under load. This counter answers it by reading 8 bytes of shared
memory: the file ``<database>-changes`` holds a 64-bit little-endian count, mapped into every
process (mmap(2), ``MAP_SHARED``), so a store reads it without a system call.

- **Who bumps.** ``SQLiteStore`` adds one after every commit, under ``flock(2)`` on the file so
  that no two processes' increments are lost, and before the commit's request is answered.
  A store also adds one when it opens, for a writer that crashed between its commit and its bump.
- **What is left to the query.** A commit whose process died before bumping, a bump that
  failed (``bump`` raises ``OSError``; the commit stands), or a write by another program, is
  not in the count. ``SQLiteStore`` still runs ``PRAGMA data_version`` once per
  ``PRAGMA_INTERVAL_S``, so such a change is seen within that interval.
- **Own commits.** ``bump`` returns the count before and after, so a store can tell that only its
  own commit moved it and keep its caches (``PRAGMA data_version`` ignores a connection's own
  commits too).

The file is created 0600 beside the database's ``-wal`` and ``-shm`` (named after the database's
real path, as SQLite names those), owned like the database when root opens it (as SQLite does
for ``-wal`` and ``-shm``), and holds no data. Its 8 bytes are written, not left sparse, and the
count is changed with ``pwrite(2)``, so a full disk is an ``OSError``, never a ``SIGBUS`` from
the mapping, which is only read.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from pathlib import Path

SUFFIX = "-changes"
SIZE = 8  # one unsigned 64-bit count
_MASK = (1 << 64) - 1


class ChangeCounter:
    """The shared count of commits to the database at ``database`` (see the module docstring)."""

    def __init__(self, database: Path) -> None:
        real = Path(os.path.realpath(database))
        self.path = real.with_name(real.name + SUFFIX)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            if os.geteuid() == 0:
                owner = os.stat(real)
                os.fchown(fd, owner.st_uid, owner.st_gid)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                if size < SIZE:
                    os.pwrite(fd, bytes(SIZE - size), size)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            self._map: mmap.mmap | None = mmap.mmap(fd, SIZE, prot=mmap.PROT_READ)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def read(self) -> bytes:
        """The count as it is now (8 bytes; compare, don't decode)."""
        assert self._map is not None, "closed"
        return self._map[:SIZE]

    def bump(self) -> tuple[bytes, bytes]:
        """Add one; the count just before and just after (so with nobody else in between,
        ``before`` is what the caller last read). Raises ``OSError`` when it cannot."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            before = os.pread(self._fd, SIZE, 0)
            after = ((int.from_bytes(before, "little") + 1) & _MASK).to_bytes(SIZE, "little")
            if os.pwrite(self._fd, after, 0) != SIZE:
                raise OSError(errno.EIO, f"short write to {self.path}")
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        return before, after

    def close(self) -> None:
        """Unmap and close (once; later calls do nothing)."""
        if self._map is None:
            return
        self._map.close()
        self._map = None
        os.close(self._fd)
