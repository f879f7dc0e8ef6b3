"""``trent audit verify``: check the hash chain and the checkpoints of a whole trail.

One streaming pass over every file, oldest first (``audit_files``): each line is hashed once
(hashlib SHA-256) and its ``trentPrevHash`` compared with the previous line's hash by slicing the
line's end, so no JSON is parsed except for checkpoints (whose Ed25519 signatures are checked
against the audit public key). The first failure stops the pass and names its file and line.

What it establishes, and what it cannot (docs/security.md, "The audit trail's chain"):

- Every chained line is the line the writer wrote after the one before it: an edited, inserted,
  removed or reordered line breaks the chain at that point, in any file; a rotated file cut short
  ends without the checkpoint every rotated file ends with (and breaks the chain at the next
  file's first line).
- Everything up to the last checkpoint is vouched for by a key only Trent holds: rewriting the
  trail and re-chaining it fails at the first checkpoint after the change.
- Lines after the last checkpoint are chained but not yet signed: cutting some of them off at a
  line boundary leaves a valid trail, and so does cutting back to an earlier checkpoint, unless
  the database's anchor (``ANCHOR_META``, the newest checkpoint a worker recorded there, every
  few seconds and at shutdown) is missing from the trail — then the trail was truncated. A line
  without its newline at the very end of ``audit.log`` is a torn tail (a crash mid-write) that
  the writer cuts at its next start; it is reported, not failed.
- The first chained line names ``GENESIS`` or the hash of the unchained line before it (a trail
  from before the chain); lines before the chain starts are counted and reported, not vouched
  for. A first line that follows a line not in the trail (old files deleted) fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trent.audit.chain import (
    CHECKPOINT_PREFIX,
    GENESIS,
    PREV_FIELD,
    Checkpoint,
    line_hash,
    prev_of,
)
from trent.audit.log import CURRENT
from trent.audit.reader import audit_files


@dataclass(frozen=True)
class Place:
    """A line of the trail: file name (within the audit directory) and 1-based line number."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Report:
    """What one pass found. ``failure`` is None when the trail is intact."""

    files: int = 0
    records: int = 0
    checkpoints: int = 0
    unchained: int = 0  # lines before the chain starts
    chain_start: Place | None = None
    last_checkpoint: Place | None = None
    last_checkpoint_time: str | None = None
    after_last_checkpoint: int = 0  # records chained but not yet covered by a checkpoint
    torn_tail: Place | None = None
    anchor_found: bool | None = None  # None when the database recorded no checkpoint
    failure: tuple[Place, str] | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


class _Failed(Exception):
    def __init__(self, place: Place, reason: str) -> None:
        super().__init__(reason)
        self.place = place
        self.reason = reason


def verify_trail(
    directory: Path,
    public_key: Ed25519PublicKey | None,
    anchor: tuple[float, bytes] | None = None,
) -> Report:
    """Check every line of the trail under ``directory`` (``DATA_DIR/audit``).

    ``public_key`` verifies checkpoint signatures (None: a trail with a checkpoint fails);
    ``anchor`` is the database's newest checkpoint (time, line hash), which the trail must
    contain. Never raises for a bad trail: the first failure is in ``Report.failure``."""
    report = Report(anchor_found=None if anchor is None else False)
    try:
        _walk(directory, public_key, anchor, report)
    except _Failed as failed:
        report.failure = (failed.place, failed.reason)
    return report


def _walk(
    directory: Path,
    key: Ed25519PublicKey | None,
    anchor: tuple[float, bytes] | None,
    report: Report,
) -> None:
    files = audit_files(directory)
    report.files = len(files)
    prev: bytes | None = None  # hash of the line before
    before = Place("", 0)
    for index, path in enumerate(files):
        name = path.name
        number = 0
        ends_with_checkpoint = False
        with path.open("rb") as handle:
            for line in handle:
                number += 1
                here = Place(name, number)
                if not line.endswith(b"\n"):
                    if index == len(files) - 1 and name == CURRENT:
                        report.torn_tail = here  # cut by the writer when it next opens the file
                        break
                    raise _Failed(here, "an incomplete last line: the file was cut mid-record")
                linked = prev_of(line)
                if linked is None:
                    if report.chain_start is not None:
                        raise _Failed(
                            here,
                            f"no {PREV_FIELD} although the chain started at {report.chain_start}: "
                            "the record was edited, or inserted",
                        )
                    report.unchained += 1
                elif report.chain_start is None:
                    report.chain_start = here
                    if linked != (prev or GENESIS):
                        raise _Failed(
                            here,
                            "the trail's first chained record follows a record that is not in "
                            "the trail: records or files before it were removed"
                            if prev is None
                            else f"does not follow the record before it ({before}): that "
                            "record was edited, or records were inserted, removed or reordered",
                        )
                elif linked != prev:
                    raise _Failed(
                        here,
                        f"chain broken: its {PREV_FIELD} is not the hash of the record before it "
                        f"({before}); that record was edited, or records were inserted, removed "
                        "or reordered between them"
                        + (", or the file before was truncated" if number == 1 else ""),
                    )
                digest = line_hash(line)
                ends_with_checkpoint = line.startswith(CHECKPOINT_PREFIX)
                if ends_with_checkpoint:
                    report.last_checkpoint_time = _check_checkpoint(line, here, key)
                    report.checkpoints += 1
                    report.last_checkpoint = here
                    report.after_last_checkpoint = 0
                    if anchor is not None and digest == anchor[1]:
                        report.anchor_found = True
                else:
                    report.records += 1
                    if report.chain_start is not None:
                        report.after_last_checkpoint += 1
                prev, before = digest, here
        rotated = index < len(files) - 1 or name != CURRENT
        chained = report.chain_start is not None
        if rotated and number and chained and key is not None and not ends_with_checkpoint:
            raise _Failed(
                Place(name, number),
                "a rotated file ends with a checkpoint; this one does not: it was truncated",
            )
    if anchor is not None and not report.anchor_found:
        raise _Failed(
            before,
            "the trail ends here, without the checkpoint the database recorded last "
            f"(written at epoch {anchor[0]:.0f}): the trail was truncated",
        )


def _check_checkpoint(line: bytes, here: Place, key: Ed25519PublicKey | None) -> str:
    """The checkpoint's time, once its signature verifies."""
    try:
        checkpoint = Checkpoint.parse(line)
    except ValueError as exc:
        raise _Failed(here, str(exc)) from exc
    if key is None:
        raise _Failed(here, "a checkpoint, and no audit public key to verify it with")
    if not checkpoint.verifies(key):
        raise _Failed(
            here,
            f"checkpoint of {checkpoint.time} (key id {checkpoint.key_id}) is not signed by the "
            "audit signing key: forged or edited",
        )
    return checkpoint.time
