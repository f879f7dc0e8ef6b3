"""The audit trail's hash chain and its signed checkpoints.

Every line of the trail (``audit-*.log`` oldest first, then ``audit.log``) ends with one more
top-level member, spliced in by the log writer before the record's final ``}``::

    {...the CloudTrail record...,"trentPrevHash":"<64 hex digits>"}

``trentPrevHash`` is the SHA-256 (lower-case hex) of the previous line's exact bytes, without its
newline; the trail's first chained line names ``GENESIS`` (64 zeros) when nothing precedes it, or
the hash of the last unchained line of a trail written before the chain existed. The chain runs
across rotated files and across the workers that share one log. CloudTrail readers ignore an
unknown member; Trent's own readers skip checkpoint lines.

A checkpoint is a line of its own, in the same chain::

    {"trentCheckpoint":{"version":1,"time":"2026-01-02T03:04:05Z","keyId":"<16 hex>",
     "signature":"<base64>"},"trentPrevHash":"<hex>"}

``signature`` is Ed25519 (RFC 8032, pyca/cryptography) over ``checkpoint_message``: a domain tag,
the key id, the time and the ``trentPrevHash`` of the checkpoint itself — so a checkpoint vouches
for every line before it. The signing key is generated once per data directory and stored in the
database sealed by the barrier (purpose ``audit-signing-key``); its public key is stored in clear
(``trent audit public-key``), so a verifier needs no secret. ``keyId`` is the first 16 hex digits
of the SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trent.seal import Barrier
from trent.store import Store

PREV_FIELD = "trentPrevHash"
CHECKPOINT_FIELD = "trentCheckpoint"
GENESIS = b"0" * 64
HASH_HEX = 64
LINK_PREFIX = b',"' + PREV_FIELD.encode() + b'":"'
LINK_SUFFIX = b'"}\n'
LINK_BYTES = len(LINK_PREFIX) + HASH_HEX + len(LINK_SUFFIX)  # what linking adds, less one "}"
CHECKPOINT_PREFIX = b'{"' + CHECKPOINT_FIELD.encode() + b'":'
SIGNING_PURPOSE = "audit-signing-key"
SIGNING_OWNER = "audit"
SIGNING_KEY_META = "audit_signing_key"  # base64 of the barrier-sealed raw private key
PUBLIC_KEY_META = "audit_public_key"  # base64 of the raw 32-byte Ed25519 public key
ANCHOR_META = "audit_checkpoint"  # "<time>|<hash of the newest checkpoint line>"
_MESSAGE_TAG = b"trent-audit-checkpoint\x00v1\x00"


def line_hash(line: bytes) -> bytes:
    """SHA-256 hex (as bytes) of one line's bytes, its trailing newline excluded."""
    end = len(line) - 1 if line.endswith(b"\n") else len(line)
    return hashlib.sha256(memoryview(line)[:end]).hexdigest().encode()


def link(line: bytes, prev: bytes) -> bytes:
    """``line`` (one non-empty JSON object and ``\\n``) with ``"trentPrevHash": prev`` spliced
    in before its final ``}``, without re-serialising. Raises ``ValueError`` for a line that is
    not a non-empty object ending in ``}\\n``."""
    if not line.endswith(b"}\n") or line.endswith(b"{}\n"):
        raise ValueError("an audit line is one non-empty JSON object and a newline")
    return b"".join((line[:-2], LINK_PREFIX, prev, LINK_SUFFIX))


def prev_of(line: bytes) -> bytes | None:
    """The ``trentPrevHash`` a line ends with, or None for a line without it (unchained)."""
    if len(line) < LINK_BYTES or not line.endswith(LINK_SUFFIX):
        return None
    start = len(line) - LINK_BYTES
    if line[start : start + len(LINK_PREFIX)] != LINK_PREFIX:
        return None
    return line[-HASH_HEX - len(LINK_SUFFIX) : -len(LINK_SUFFIX)]


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(key: str, when: str, prev: bytes) -> bytes:
    """What a checkpoint's signature covers: tag, key id, time and the checkpoint's own
    ``trentPrevHash`` (the hash of the line before it), NUL-separated."""
    return _MESSAGE_TAG + key.encode() + b"\x00" + when.encode() + b"\x00" + prev


class Signer:
    """Makes checkpoint lines with the data directory's audit signing key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = key_id(private_key.public_key())

    def checkpoint(self, prev: bytes, now: float) -> bytes:
        """A linked checkpoint line (with its newline) vouching for the line whose hash is
        ``prev`` and everything before it."""
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        signature = self._key.sign(checkpoint_message(self.key_id, when, prev))
        body = {
            "version": 1,
            "time": when,
            "keyId": self.key_id,
            "signature": base64.b64encode(signature).decode(),
        }
        return link(orjson.dumps({CHECKPOINT_FIELD: body}) + b"\n", prev)


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint line."""

    time: str
    key_id: str
    signature: bytes
    prev: bytes

    @classmethod
    def parse(cls, line: bytes) -> Checkpoint:
        """Raises ``ValueError`` when the line is not a well-formed checkpoint."""
        prev = prev_of(line)
        try:
            body = orjson.loads(line)[CHECKPOINT_FIELD]
            if prev is None or body["version"] != 1:
                raise ValueError("not a version 1 checkpoint")
            return cls(
                str(body["time"]),
                str(body["keyId"]),
                base64.b64decode(body["signature"], validate=True),
                prev,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed checkpoint: {exc}") from exc

    def verifies(self, public_key: Ed25519PublicKey) -> bool:
        if self.key_id != key_id(public_key):
            return False
        try:
            public_key.verify(self.signature, checkpoint_message(self.key_id, self.time, self.prev))
        except InvalidSignature:
            return False
        return True


def ensure_signing_key(store: Store, barrier: Barrier) -> Signer:
    """The data directory's audit signing key, generated (and stored sealed, with its public
    key in clear) on first call. Safe when several processes call it at once: the check and
    the insert share one ``BEGIN IMMEDIATE`` transaction."""
    with store.write():
        sealed = store.get_meta(SIGNING_KEY_META)
        if sealed is None:
            private_key = Ed25519PrivateKey.generate()
            raw = private_key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            public = private_key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            sealed_raw = barrier.seal(SIGNING_PURPOSE, SIGNING_OWNER, raw)
            store.set_meta(SIGNING_KEY_META, base64.b64encode(sealed_raw).decode())
            store.set_meta(PUBLIC_KEY_META, base64.b64encode(public).decode())
            return Signer(private_key)
    raw = barrier.open(SIGNING_PURPOSE, SIGNING_OWNER, base64.b64decode(sealed))
    return Signer(Ed25519PrivateKey.from_private_bytes(raw))


def stored_public_key(store: Store) -> Ed25519PublicKey | None:
    """The audit public key stored with the data (None before the first ``trent serve``)."""
    value = store.get_meta(PUBLIC_KEY_META)
    if value is None:
        return None
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(value))


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key_pem(data: bytes) -> Ed25519PublicKey:
    """Raises ``ValueError`` unless ``data`` is a PEM Ed25519 public key."""
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def anchor_name(node: str | None) -> str:
    """The ``meta`` row of a trail's anchor: ``ANCHOR_META`` for the one trail of a SQLite
    data directory; ``ANCHOR_META:<node>`` for each node's own trail over a shared
    PostgreSQL."""
    return ANCHOR_META if node is None else f"{ANCHOR_META}:{node}"


def record_anchor(
    store: Store, when: float, checkpoint_hash: bytes, name: str = ANCHOR_META
) -> None:
    """Remember the newest checkpoint in the database (row ``name``, see ``anchor_name``),
    unless a newer one is there already (several workers write checkpoints). ``trent audit
    verify`` requires the trail to contain it, which catches a trail cut back before it."""
    with store.write():
        current = store.get_meta(name)
        if current is not None and float(current.split("|", 1)[0]) > when:
            return
        store.set_meta(name, f"{when!r}|{checkpoint_hash.decode()}")


def stored_anchor(store: Store, name: str = ANCHOR_META) -> tuple[float, bytes] | None:
    value = store.get_meta(name)
    if value is None:
        return None
    when, digest = value.split("|", 1)
    return float(when), digest.encode()
