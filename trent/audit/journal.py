"""The audit log's journal: how a batch becomes durable without an fsync of ``audit.log``.

An ``fsync`` of a file that grew must also commit the file system's own journal (the size and
the block map changed). Writing the same bytes over blocks that are already allocated and
written, and ``fdatasync``-ing them, changes no metadata, so no file-system journal commit.
On the benchmark machine (ext4 on a virtio disk, ``bench/README.md``) the first costs 185 µs and
about 87 µs of CPU per call, the second 109 µs and about 47 µs: the same trade PostgreSQL makes
by writing its WAL into pre-allocated, zero-filled segments.

So each ``AuditLog`` claims a journal file of its own, ``audit.journal-<n>`` (``JOURNAL_BYTES``,
zero-filled once when created, held with an exclusive ``flock`` while in use). Every batch it
writes from the event loop goes to ``audit.log`` (no fsync) and then, as one frame, into its
journal, which is ``fdatasync``-ed before the batch's requests are answered. The journal is a
ring: a frame may overwrite an older one only once the lines of that older one are durable in
the trail itself, which a background ``fsync`` of ``audit.log`` (``AuditLog._flush_trail``)
ensures about every quarter of a lap; when it has not finished in time the batch is written the
old way (``audit.log`` fsynced), never lost.

A frame is ``FRAME`` (magic ``b"TRJ1"``, the data's length, its CRC-32 as ``zlib.crc32``
computes it) and then the batch's linked lines. The CRC catches a frame torn by a crash, as
PostgreSQL's WAL records carry a CRC; tampering is what the hash chain and its signed
checkpoints catch, in the trail itself.

After a crash of the machine, ``audit.log`` may have lost what the page cache held; the worker
that next opens it (``AuditLog``, under the log's lock) reads every journal, keeps the frames
whose CRC matches, and appends the lines that continue the hash chain from the trail's last
line (``recover``), in chain order, then fsyncs. Stale frames of earlier laps continue nothing
and are ignored; a frame torn by the crash fails its CRC.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import zlib
from contextlib import suppress
from pathlib import Path

from trent.audit.chain import line_hash, prev_of

JOURNAL_BYTES = 4 * 1024 * 1024
PREFIX = "audit.journal-"
MAX_JOURNALS = 64  # AuditLog instances sharing one directory at once (one per worker)
MAGIC = b"TRJ1"
FRAME = struct.Struct(">4sII")  # magic, data length, CRC-32 of the data
_ZEROS = bytes(256 * 1024)
log = logging.getLogger("trent.audit")


class Journal:
    """One claimed journal file. ``total`` counts bytes reserved since it was opened (laps
    included); ``durable`` is the ``total`` up to which every frame's lines are on disk in the
    trail itself, so that space may be written again."""

    def __init__(self, fd: int, path: Path, size: int) -> None:
        self.fd = fd
        self.path = path
        self.size = size
        self.total = 0
        self.durable = 0
        self.flushing = False  # a background fsync of the trail is running
        self.frozen = False  # a background fsync failed: frames are never reused again

    @classmethod
    def claim(cls, directory: Path, size: int = JOURNAL_BYTES) -> Journal | None:
        """The first journal in ``directory`` no other log holds, created and zero-filled if
        needed; None when every slot is held or the disk has no room for one (the log then
        fsyncs ``audit.log`` itself, as before journals)."""
        for n in range(MAX_JOURNALS):
            path = directory / f"{PREFIX}{n}"
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                log.warning("no audit journal (audit.log is fsynced at every batch): %s", exc)
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            found = os.fstat(fd).st_size
            if found == size:
                return cls(fd, path, size)
            if found:  # made for another size: left as it is, for recovery to read
                os.close(fd)
                continue
            try:
                _zero_fill(fd, size)
                fsync_dir(directory)
            except OSError as exc:  # no room for it (ENOSPC, EDQUOT), or an I/O error
                os.close(fd)
                path.unlink(missing_ok=True)
                log.warning("no audit journal (audit.log is fsynced at every batch): %s", exc)
                return None
            return cls(fd, path, size)
        return None

    def _start(self, length: int) -> int:
        """Where (in ``total``'s count) a frame of ``length`` bytes would begin: frames never
        wrap, so the rest of a lap too short for it is skipped."""
        offset = self.total % self.size
        return self.total if offset + length <= self.size else self.total + self.size - offset

    def advance(self, covered: int) -> None:
        """An fsync of audit.log that began when ``total`` was ``covered`` has ended: the
        frames before it may be overwritten (never once ``frozen``)."""
        if not self.frozen and covered > self.durable:
            self.durable = covered

    def fits(self, length: int) -> bool:
        """Whether a frame of ``length`` bytes (header included) can be written now without
        overwriting a frame whose lines are not yet durable in the trail."""
        return length <= self.size and self._start(length) + length - self.size <= self.durable

    def reserve(self, length: int) -> int:
        """The offset of the next frame, of ``length`` bytes (call after ``fits``)."""
        start = self._start(length)
        self.total = start + length
        return start % self.size

    def write(self, offset: int, data: bytes) -> None:
        """Write ``data`` (whole linked lines) as one frame at ``offset`` (not yet synced)."""
        frame = FRAME.pack(MAGIC, len(data), zlib.crc32(data)) + data
        written = 0
        while written < len(frame):
            written += os.pwrite(self.fd, frame[written:], offset + written)

    def invalidate(self, offset: int) -> None:
        """Zero a frame's header so that no recovery ever reads it (a batch taken back)."""
        os.pwrite(self.fd, bytes(FRAME.size), offset)
        os.fdatasync(self.fd)

    def sync(self) -> None:
        os.fdatasync(self.fd)

    def flush_due(self) -> bool:
        """Whether a background fsync of the trail should start: a quarter lap undurable."""
        return not self.flushing and self.total - self.durable > self.size // 4

    def close(self) -> None:
        os.close(self.fd)  # releases the flock


def frame_bytes(length: int) -> int:
    """The size of the frame holding ``length`` bytes of lines."""
    return FRAME.size + length


def capacity(directory: Path) -> int:
    """The bytes of every journal in ``directory``: at most that much of the end of
    audit.log may be unsynced (each worker's unsynced lines are in its ring)."""
    total = 0
    for path in directory.glob(PREFIX + "*"):
        with suppress(FileNotFoundError):  # unlinked by a claim that failed meanwhile
            total += path.stat().st_size
    return total


def in_use(directory: Path) -> bool:
    """Whether a running log holds one of ``directory``'s journals (its ``flock``)."""
    for path in directory.glob(PREFIX + "*"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
    return False


def read_lines(path: Path) -> list[bytes]:
    """Every line (with its newline) of every intact frame in the journal at ``path``."""
    with open(path, "rb") as handle:
        data = handle.read()
    lines: list[bytes] = []
    at = data.find(MAGIC)
    while at >= 0:
        after = at + 1  # not a frame (a torn one, or these bytes inside a record): look on
        if at + FRAME.size <= len(data):
            _, length, crc = FRAME.unpack_from(data, at)
            start = at + FRAME.size
            body = data[start : start + length]
            if len(body) == length and body.endswith(b"\n") and zlib.crc32(body) == crc:
                lines.extend(body.splitlines(keepends=True))
                after = start + length
        at = data.find(MAGIC, after)
    return lines


def recover(directory: Path, head: bytes) -> list[bytes]:
    """The lines in ``directory``'s journals that continue the chain after the line whose hash
    is ``head`` (the trail's last line), in chain order: what a crash took from the trail."""
    following: dict[bytes, bytes] = {}
    for path in sorted(directory.glob(PREFIX + "*")):
        for line in read_lines(path):
            prev = prev_of(line)
            if prev is None:
                continue
            known = following.setdefault(prev, line)
            if known != line:  # never written so; reported, and the first one kept
                log.warning("two audit records in the journals follow the same record")
    missing: list[bytes] = []
    while head in following:
        line = following.pop(head)
        missing.append(line)
        head = line_hash(line)
    return missing


def _zero_fill(fd: int, size: int) -> None:
    """Write ``size`` zero bytes (allocated and written blocks, not a sparse or fallocated
    range, whose first write would change metadata again) and fsync them."""
    os.ftruncate(fd, 0)
    position = 0
    while position < size:
        position += os.pwrite(fd, _ZEROS[: size - position], position)
    os.fsync(fd)


def fsync_dir(directory: Path) -> None:
    """fsync a directory (a file created or renamed in it survives a crash)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
