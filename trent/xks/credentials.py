"""XKS proxy credentials: what AWS KMS signs its requests with, per path prefix.

Rules from the spec ("Appendix A", "SigV4 credentials rotation", "XKS proxy configuration in
AWS KMS console"): an access key id of 20 to 30 characters ``A``-``Z`` and ``2``-``7`` that
reveals nothing of the secret (Trent: 26 characters, base32 of 16 random bytes); a secret of 43
to 64 characters of ``A-Za-z0-9+/=`` with at least 256 bits of entropy (Trent: base64 of 32
random bytes, 44 characters); at least two credentials usable at once per path prefix so that
one can be rotated (Trent allows exactly two); an ``XksProxyUriPath`` of at most 128 characters
of ``a-zA-Z0-9/-_`` ending in ``/kms/xks/v1``.

Each credential names the Trent keys it serves (symmetric encryption keys) and may carry
secondary-authorization rules on ``requestMetadata`` (``Rules``). Secrets are stored only
sealed by the barrier (purpose ``xks-credential``) and unsealed once per worker.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
from dataclasses import dataclass, field

import orjson

from trent.clock import Clock
from trent.seal import Barrier, BarrierError
from trent.store import Store, XksCredentialRow

PURPOSE = "xks-credential"
API_PATH = "/kms/xks/v1"
MAX_URI_PATH = 128
MAX_PER_PREFIX = 2
ACCESS_KEY_ID = re.compile(r"[A-Z2-7]{20,30}")
SECRET = re.compile(r"[A-Za-z0-9+/=]{43,64}")
PATH_PREFIX = re.compile(r"(/[A-Za-z0-9_-]+)*")
# requestMetadata fields a rule may constrain (the spec's "Authorization" and Appendix B).
RULE_FIELDS = ("awsPrincipalArn", "kmsOperation", "kmsKeyArn", "kmsViaService")


class CredentialError(ValueError):
    """A credential cannot be created as asked (bad prefix, too many, bad rule)."""


@dataclass(frozen=True, slots=True)
class Rules:
    """Secondary authorization: for each field named, the request's ``requestMetadata`` value
    must match one of the patterns (``fnmatch`` globs: ``*``, ``?``, ``[...]``); a field with no
    patterns is not checked, and a field a rule names but the request lacks is refused."""

    patterns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> Rules:
        data = orjson.loads(text) if text else {}
        return cls({name: tuple(values) for name, values in data.items() if values})

    def to_json(self) -> str:
        return orjson.dumps({k: list(v) for k, v in self.patterns.items() if v}).decode()

    def refusal(self, metadata: dict[str, str]) -> str | None:
        """``None`` when ``metadata`` passes every rule, else which rule it failed."""
        for name, patterns in self.patterns.items():
            value = metadata.get(name)
            if value is None:
                return f"requestMetadata.{name} is required by this credential's rules"
            if not any(fnmatch.fnmatchcase(value, p) for p in patterns):
                return f"requestMetadata.{name} matches none of this credential's rules"
        return None


@dataclass(frozen=True, slots=True)
class Credential:
    """One credential as the proxy uses it (the secret unsealed)."""

    access_key_id: str
    secret: str
    path_prefix: str
    key_ids: frozenset[str]
    rules: Rules

    @property
    def uri_path(self) -> str:
        return self.path_prefix + API_PATH


@dataclass(frozen=True, slots=True)
class NewCredential:
    """What ``create`` hands the administrator once: the console's configuration file."""

    access_key_id: str
    secret: str
    uri_path: str

    def as_json(self) -> dict[str, str]:
        return {
            "AccessKeyId": self.access_key_id,
            "RawSecretAccessKey": self.secret,
            "XksProxyUriPath": self.uri_path,
        }


def check_prefix(prefix: str) -> str:
    """``prefix`` normalised (``""`` or ``/a/b``, no trailing slash), or ``CredentialError``."""
    prefix = prefix.rstrip("/")
    if prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    if not PATH_PREFIX.fullmatch(prefix):
        raise CredentialError(
            "the path prefix may hold only a-z, A-Z, 0-9, '-', '_' and '/' (e.g. /keystore-1)"
        )
    if len(prefix + API_PATH) > MAX_URI_PATH:
        raise CredentialError(
            f"the URI path {prefix + API_PATH} is longer than {MAX_URI_PATH} characters"
        )
    return prefix


def create(
    store: Store,
    barrier: Barrier,
    clock: Clock,
    *,
    key_ids: list[str],
    path_prefix: str = "",
    rules: Rules | None = None,
) -> NewCredential:
    """A new credential for ``path_prefix`` serving ``key_ids`` (already checked to be Trent
    symmetric encryption keys); ``CredentialError`` when the prefix is invalid or already has
    ``MAX_PER_PREFIX`` credentials."""
    prefix = check_prefix(path_prefix)
    if not key_ids:
        raise CredentialError("name at least one key (--key-id)")
    for name in rules.patterns if rules else {}:
        if name not in RULE_FIELDS:
            raise CredentialError(f"no rule on requestMetadata.{name}")
    access_key_id = base64.b32encode(os.urandom(16)).decode().rstrip("=")  # 26 characters
    secret = base64.b64encode(os.urandom(32)).decode()  # 44 characters, 256 bits
    assert ACCESS_KEY_ID.fullmatch(access_key_id) and SECRET.fullmatch(secret)
    sealed = barrier.seal(PURPOSE, access_key_id, secret.encode())
    row = XksCredentialRow(
        access_key_id,
        sealed,
        prefix,
        orjson.dumps(sorted(set(key_ids))).decode(),
        (rules or Rules()).to_json(),
        clock.now(),
    )
    with store.write():
        same_prefix = [r for r in store.list_xks_credentials() if r.path_prefix == prefix]
        if len(same_prefix) >= MAX_PER_PREFIX:
            raise CredentialError(
                f"path prefix '{prefix or '/'}' already has {MAX_PER_PREFIX} credentials; "
                "delete one first (delete-xks-credential)"
            )
        store.insert_xks_credential(row)
    return NewCredential(access_key_id, secret, prefix + API_PATH)


class CredentialCache:
    """Credentials by access key id, unsealed once per worker; dropped whenever the store's
    XKS credential generation moved (a credential was created or deleted anywhere)."""

    def __init__(self, store: Store, barrier: Barrier) -> None:
        self.store = store
        self.barrier = barrier
        self._cached: dict[str, Credential] = {}
        self._seen = store.changes()
        self._generation = store.xks_credentials_generation()

    def refresh(self) -> None:
        """Call once per request (after the store's ``data_version`` was read)."""
        changes = self.store.changes()
        if changes == self._seen:
            return
        self._seen = changes
        generation = self.store.xks_credentials_generation()
        if generation != self._generation:
            self._generation = generation
            self._cached.clear()

    def get(self, access_key_id: str) -> Credential | None:
        cached = self._cached.get(access_key_id)
        if cached is not None:
            return cached
        if not ACCESS_KEY_ID.fullmatch(access_key_id):
            return None
        row = self.store.get_xks_credential(access_key_id)
        if row is None:
            return None
        try:
            secret = self.barrier.open(PURPOSE, access_key_id, row.sealed_secret).decode()
        except BarrierError:
            return None
        credential = Credential(
            access_key_id,
            secret,
            row.path_prefix,
            frozenset(orjson.loads(row.key_ids)),
            Rules.from_json(row.rules),
        )
        self._cached[access_key_id] = credential
        return credential

    def secret(self, access_key_id: str) -> str | None:
        """For ``SigV4Verifier``'s ``lookup_secret``."""
        credential = self.get(access_key_id)
        return credential.secret if credential else None
