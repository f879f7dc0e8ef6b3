"""First start of a data directory: root key, database, account, its root's access key, and the
aws CLI ``credentials``/``config`` files. Runs once in the parent process, before workers.

Every start makes the data directory private (0700, and 0600 for every file Trent writes in it,
whatever existed before and whatever the umask) and checks the root key against the check value
stored with the data (``trent.seal.check``): a missing or different root key stops the start with
``RootKeyError``, and a root key is never created over initialised data.
"""

from __future__ import annotations

import os
import secrets
import socket
import string
import time
from dataclasses import dataclass
from pathlib import Path

from trent.audit.chain import ensure_signing_key
from trent.clock import PURPOSE_META, TEST_PURPOSE, Clock
from trent.config import ConfigError, Settings, redact_url
from trent.identity.credentials import ACCESS_KEY_PURPOSE
from trent.operations.usage import TRACKING_START_META
from trent.seal import (
    Barrier,
    BarrierError,
    FileSeal,
    KeyringView,
    Seal,
    SealError,
    check_value,
    rootkeys,
)
from trent.seal.check import matches
from trent.store import AccessKeyRow, SQLiteStore
from trent.store.records import AccountRow

_ID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
PROFILE = "trent"
ROOT_KEY_CHECK_META = rootkeys.CHECK_META
PRIVATE_UMASK = 0o077
# What Trent writes directly under the data directory (``audit/`` is handled as a whole).
_DATA_FILES = (
    "trent.db",
    "trent.db-wal",
    "trent.db-shm",
    "root.key",
    "credentials",
    "config",
    "node",
)
NODE_FILE = "node"  # DATA_DIR/node: this node's name, when nodes share a PostgreSQL database


def node_name(settings: Settings, *, create: bool = False) -> str | None:
    """The name of this node (``<host>-<6 hex>``, kept in ``DATA_DIR/node``) when the database
    is PostgreSQL, which several nodes may share: its audit records carry it
    (``trentNode``) and its trail's anchor is its own. None on SQLite (one node)."""
    if settings.database_url is None:
        return None
    path = settings.data_dir / NODE_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        if not create:
            return None
    name = f"{socket.gethostname().split('.')[0]}-{secrets.token_hex(3)}"
    _write_private(path, name + "\n")
    return name


class RootKeyError(ConfigError):
    """The seal cannot be opened (a missing root key file; a PKCS#11 module, token, PIN or key
    that is wrong), or is not the one the data was sealed under."""


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    principal: str


@dataclass(frozen=True)
class DataDir:
    account_id: str
    region: str
    credentials_file: Path
    config_file: Path


def make_private(settings: Settings) -> None:
    """Umask 077 for this process (and the workers it starts); the data directory 0700, what
    Trent keeps in it 0600, ``audit/`` 0700 and its files 0600, whatever they were before."""
    os.umask(PRIVATE_UMASK)
    data_dir = settings.data_dir
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    for name in _DATA_FILES:
        _chmod_if_exists(data_dir / name, 0o600)
    audit_dir = settings.audit_dir
    if audit_dir.is_dir():
        os.chmod(audit_dir, 0o700)
        for path in audit_dir.iterdir():
            if path.is_file() and not path.is_symlink():
                _chmod_if_exists(path, 0o600)


def _chmod_if_exists(path: Path, mode: int) -> None:
    try:
        os.chmod(path, mode, follow_symlinks=False)
    except FileNotFoundError:
        pass
    except NotImplementedError:  # a symlink on a platform without lchmod: leave it
        pass


def open_database(settings: Settings) -> SQLiteStore:
    """The store the settings name: PostgreSQL at ``database_url`` (``PostgresStore``, a
    ``SQLiteStore`` in behaviour), else the SQLite file in the data directory. Raises
    ``ConfigError`` (one line, the URL's password left out) when PostgreSQL cannot be
    reached."""
    if settings.database_url is None:
        return SQLiteStore(settings.database)
    import psycopg

    from trent.store.postgres import PostgresStore

    try:
        return PostgresStore(settings.database_url)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot open the database {redact_url(settings.database_url)}: {reason}"
        ) from None


def has_database(settings: Settings) -> bool:
    """True when there is a database to open (PostgreSQL is always there to try)."""
    return settings.database_url is not None or settings.database.is_file()


def is_initialized(settings: Settings) -> bool:
    """True when the data directory holds a database with an account (keys may be sealed)."""
    if settings.database_url is None and (
        not settings.database.is_file() or settings.database.stat().st_size == 0
    ):
        return False
    store = open_database(settings)
    try:
        return store.get_meta("account_id") is not None
    finally:
        store.close()


def make_seal(settings: Settings) -> Seal:
    """The seal the settings name: the root key file, or the key in a PKCS#11 token."""
    if settings.seal == "pkcs11":
        from trent.seal.pkcs11 import Pkcs11Config, Pkcs11Seal

        assert settings.pkcs11_module and settings.pkcs11_token_label
        assert settings.pkcs11_pin_file
        return Pkcs11Seal(
            Pkcs11Config(
                settings.pkcs11_module,
                settings.pkcs11_token_label,
                settings.pkcs11_pin_file,
                settings.pkcs11_key_label,
            )
        )
    return FileSeal(settings.root_key_path)


def _ready(seal: Seal, settings: Settings) -> None:
    """Open the seal before anything is read or written; ``RootKeyError`` (one line) if not."""
    try:
        if isinstance(seal, FileSeal):
            seal.root_key()
        else:
            seal.check()  # type: ignore[attr-defined]
    except SealError as exc:
        hint = ""
        if isinstance(seal, FileSeal) and not seal.path.exists():
            hint = (
                f"; the data in {settings.data_name} was sealed under it (restore it, or point "
                "--root-key-file at it)"
            )
        raise RootKeyError(f"{exc}{hint}") from exc


def open_store(settings: Settings) -> tuple[SQLiteStore, Barrier]:
    """The store and a barrier over the data's root keyring, opened by the settings' seal.

    Raises ``RootKeyError`` (one line, naming the file or the token and key) when the seal
    cannot be opened or is not the one the data was sealed under. Data made before the keyring
    existed (sealed directly under the root key file) gets its keyring here, version 1 being
    that file's key, once an access key has opened under it."""
    seal = make_seal(settings)
    store = open_database(settings)
    try:
        _check_seal_kind(store, seal, settings)
        _ready(seal, settings)
        view = _open_keyring(store, seal, settings)
    except BaseException:
        store.close()
        seal.close()
        raise
    return store, Barrier(view, refresh=rootkeys.Refresher(store, seal))


def _check_seal_kind(store: SQLiteStore, seal: Seal, settings: Settings) -> None:
    recorded = rootkeys.recorded_seal(store)
    if recorded is not None and recorded != seal.kind:
        raise RootKeyError(
            f"the data in {settings.data_name} is sealed by the {recorded} seal, not the "
            f"{seal.kind} seal (pass --seal {recorded} and its options)"
        )


def _open_keyring(store: SQLiteStore, seal: Seal, settings: Settings) -> KeyringView:
    mismatch = RootKeyError(
        f"{seal.describe()} is not the key the data in {settings.data_name} was sealed under"
    )
    if rootkeys.recorded_seal(store) is not None:
        try:
            view = rootkeys.load(store, seal)
        except SealError as exc:
            raise mismatch from exc
        if store.get_meta(ROOT_KEY_CHECK_META) is None:
            with store.write():
                store.set_meta(ROOT_KEY_CHECK_META, check_value(view.keys[1]))
        return view
    if store.get_meta("account_id") is None and store.get_meta(ROOT_KEY_CHECK_META) is None:
        with store.write():  # a new data directory: a fresh random version 1
            # Asked again under the write lock: another node starting on the same new
            # database may have made the keyring meanwhile; then open that one.
            fresh = rootkeys.recorded_seal(store) is None and store.get_meta("account_id") is None
            if fresh and store.get_meta(ROOT_KEY_CHECK_META) is None:
                return rootkeys.create(store, seal, time.time())
        return _open_keyring(store, seal, settings)
    if not isinstance(seal, FileSeal):
        raise RootKeyError(
            f"the data in {settings.data_name} is sealed by a root key file; move it into the "
            "token with `trent admin migrate-seal --to pkcs11`"
        )
    root_key = seal.root_key()
    _check_legacy_root_key(store, Barrier(root_key), root_key, mismatch)
    with store.write():
        return rootkeys.create(store, seal, time.time(), first_key=root_key)


def _check_legacy_root_key(
    store: SQLiteStore, barrier: Barrier, root_key: bytes, mismatch: RootKeyError
) -> None:
    stored = store.get_meta(ROOT_KEY_CHECK_META)
    if stored is not None:
        if not matches(root_key, stored):
            raise mismatch
        return
    access_keys = store.list_access_keys()
    if access_keys and not any(_opens(barrier, row) for row in access_keys):
        raise mismatch


def _opens(barrier: Barrier, row: AccessKeyRow) -> bool:
    try:
        barrier.open(ACCESS_KEY_PURPOSE, row.access_key_id, row.sealed_secret)
    except BarrierError:
        return False
    return True


def initialize(settings: Settings, clock: Clock, *, for_tests: bool = False) -> DataDir:
    """Create what is missing under the data directory; idempotent.

    ``for_tests`` marks a *new* data directory as made for tests (which lets ``--test-clock``
    run on it); it is refused for a directory that already exists.
    """
    if for_tests and settings.database_url is None and settings.database.exists():
        raise ConfigError(f"{settings.data_dir} already exists; a test data dir must be new")
    if settings.seal == "file":
        make_private(settings)
        if not settings.root_key_path.exists() and not is_initialized(settings):
            FileSeal(settings.root_key_path).create_if_missing()
    else:  # the token first: a wrong PIN or a missing token changes nothing
        _ready_token(make_seal(settings), settings)
        make_private(settings)
    store, barrier = open_store(settings)
    try:
        with store.write():
            account_id = store.get_meta("account_id")
            first_start = account_id is None
            if account_id is None:
                account_id = settings.account_id or "".join(
                    secrets.choice(string.digits) for _ in range(12)
                )
                store.set_meta("account_id", account_id)
                store.set_meta("region", settings.region)
                store.set_meta(TRACKING_START_META, repr(clock.now()))
                if for_tests:
                    store.set_meta(PURPOSE_META, TEST_PURPOSE)
            region = store.get_meta("region") or settings.region
            if first_start:
                store.insert_account(AccountRow(account_id, clock.now()))
                admin = create_access_key(store, barrier, account_id, None, clock)
        ensure_signing_key(store, barrier)  # the audit trail's checkpoint key
        node_name(settings, create=True)
        data_dir = DataDir(
            account_id,
            region,
            settings.data_dir / "credentials",
            settings.data_dir / "config",
        )
        if not first_start and not data_dir.credentials_file.exists() and settings.database_url:
            joined = _root_access_key(store, barrier, account_id)  # a node joining the database
            if joined is not None:
                admin, first_start = joined, True
        if first_start:
            write_aws_files(data_dir, admin, settings.endpoint_url, settings.ca_bundle)
        else:
            follow_endpoint(data_dir.config_file, region, settings.endpoint_url, settings.ca_bundle)
        return data_dir
    finally:
        store.close()


def _root_access_key(store: SQLiteStore, barrier: Barrier, account_id: str) -> AccessKey | None:
    """The oldest Active access key of the account's root, its secret opened (for the
    ``credentials`` file of a node that joins a database another node created); None if
    there is none."""
    for row in store.user_access_keys(account_id, None):
        if row.status == "Active":
            secret = barrier.open(ACCESS_KEY_PURPOSE, row.access_key_id, row.sealed_secret)
            return AccessKey(row.access_key_id, secret.decode(), row.principal)
    return None


def _ready_token(seal: Seal, settings: Settings) -> None:
    """Log in to the token and, for a new data directory, make the key if it is missing."""
    from trent.seal.pkcs11 import Pkcs11Seal

    assert isinstance(seal, Pkcs11Seal)
    try:
        if is_initialized(settings):
            seal.check()
        else:
            seal.create_key_if_missing()
    except SealError as exc:
        raise RootKeyError(str(exc)) from exc


def random_id(prefix: str) -> str:
    """An IAM-style id: ``prefix`` (``AKIA``, ``ASIA``, ``AIDA``, ``AROA``, ``ANPA``) and 16
    upper-case letters and digits (IAM User Guide, "Unique identifiers")."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def random_secret() -> str:
    """A 40-character secret access key."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def principal_arn(account_id: str, user_name: str | None, path: str = "/") -> str:
    """``arn:aws:iam::<account>:root`` (``user_name`` None) or ``...:user<path><name>``."""
    if user_name is None:
        return f"arn:aws:iam::{account_id}:root"
    return f"arn:aws:iam::{account_id}:user{path}{user_name}"


def create_access_key(
    store: SQLiteStore,
    barrier: Barrier,
    account_id: str,
    user: str | None,
    clock: Clock,
    *,
    path: str = "/",
) -> AccessKey:
    """A new Active access key of ``account_id``'s root (``user`` None) or of IAM user
    ``user`` (which must exist); the secret is stored sealed by the barrier only."""
    access_key_id = random_id("AKIA")
    secret = random_secret()
    principal = principal_arn(account_id, user, path)
    sealed = barrier.seal(ACCESS_KEY_PURPOSE, access_key_id, secret.encode())
    row = AccessKeyRow(
        access_key_id, sealed, principal, clock.now(), account_id=account_id, user_name=user
    )
    with store.write():
        store.insert_access_key(row)
    return AccessKey(access_key_id, secret, principal)


def create_account(
    store: SQLiteStore, barrier: Barrier, clock: Clock, account_id: str | None = None
) -> tuple[str, AccessKey]:
    """A new account (random 12-digit id unless given) and an access key of its root.
    Raises ``ConfigError`` when the id is malformed or exists already."""
    if account_id is None:
        account_id = "".join(secrets.choice(string.digits) for _ in range(12))
    if len(account_id) != 12 or not account_id.isdigit():
        raise ConfigError(f"account id must be 12 digits, not {account_id!r}")
    with store.write():
        if store.get_account(account_id) is not None:
            raise ConfigError(f"account {account_id} exists already")
        store.insert_account(AccountRow(account_id, clock.now()))
        key = create_access_key(store, barrier, account_id, None, clock)
    return account_id, key


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _profile_section(region: str, endpoint_url: str, ca_bundle: Path | None = None) -> str:
    """The ``[profile trent]`` section of the aws CLI ``config`` file.

    ``cli_follow_urlparam = false``: aws CLI v1 otherwise fetches any parameter value that
    starts with ``http://`` or ``https://`` and sends the page instead, which breaks
    ``--xks-proxy-uri-endpoint http://127.0.0.1:8200`` (v2 never fetches; it ignores it)."""
    ca_line = f"ca_bundle = {ca_bundle}\n" if ca_bundle else ""
    return (
        f"[profile {PROFILE}]\nregion = {region}\nendpoint_url = {endpoint_url}\n{ca_line}"
        "output = json\ncli_follow_urlparam = false\n"
    )


def follow_endpoint(
    config_file: Path, region: str, endpoint_url: str, ca_bundle: Path | None = None
) -> bool:
    """Point the aws CLI ``config`` file's ``[profile trent]`` at ``endpoint_url`` (and, when
    given, at ``ca_bundle``: the CA of a certificate from ``trent admin make-tls-cert``).

    Run at every start, so the file follows the port (and host) the server actually serves
    on. Only the profile's own top-level ``endpoint_url`` (and ``ca_bundle``) lines change;
    every other line — other profiles, comments, the profile's other settings and nested
    service sections — stays byte for byte. A missing profile is appended; a missing file is
    written afresh. The file is replaced atomically (mode 0600). Returns whether anything
    changed.
    """
    wanted = {"endpoint_url": endpoint_url}
    if ca_bundle:
        wanted["ca_bundle"] = str(ca_bundle)
    if not config_file.exists():
        _write_private(config_file, _profile_section(region, endpoint_url, ca_bundle))
        return True
    text = config_file.read_text()
    lines = text.splitlines(keepends=True)
    header = f"[profile {PROFILE}]"
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    if start is None:
        separator = (
            "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        )
        new_text = text + separator + _profile_section(region, endpoint_url, ca_bundle)
    else:
        for name, value in wanted.items():
            end = next(
                (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
                len(lines),
            )
            at = next(
                (
                    i
                    for i in range(start + 1, end)
                    if lines[i][:1] not in (" ", "\t") and lines[i].split("=", 1)[0].strip() == name
                ),
                None,
            )
            if at is None:
                lines.insert(start + 1, f"{name} = {value}\n")
            else:
                newline = "\n" if lines[at].endswith("\n") else ""
                lines[at] = f"{name} = {value}" + newline
        new_text = "".join(lines)
    if new_text == text:
        return False
    temporary = config_file.with_name(config_file.name + ".tmp")
    _write_private(temporary, new_text)
    os.replace(temporary, config_file)
    return True


def write_aws_files(
    data_dir: DataDir, key: AccessKey, endpoint_url: str, ca_bundle: Path | None = None
) -> None:
    _write_private(
        data_dir.credentials_file,
        f"[{PROFILE}]\naws_access_key_id = {key.access_key_id}\n"
        f"aws_secret_access_key = {key.secret_access_key}\n",
    )
    _write_private(data_dir.config_file, _profile_section(data_dir.region, endpoint_url, ca_bundle))


def migrate_seal(current: Settings, target: Settings) -> KeyringView:
    """Re-wrap the data's root keyring from ``current``'s seal to ``target``'s, in one write.

    Run with the server stopped. The target is made ready first (a new root key file, or the
    key in the token); a crash before the write commits leaves the keyring wrapped by the
    current seal, after it by the target, never neither. ``RootKeyError`` (one line) when either
    seal cannot be opened or the current one is not the data's."""
    if not has_database(current):
        raise ConfigError(f"{current.data_dir} is not a Trent data directory")
    seal = make_seal(current)
    store = open_database(current)
    try:
        _check_seal_kind(store, seal, current)
        _ready(seal, current)
        _open_keyring(store, seal, current)  # data made before the keyring gets it here
        new_seal = make_seal(target)
        try:
            if isinstance(new_seal, FileSeal):
                new_seal.create_if_missing()
                new_seal.root_key()
            else:
                new_seal.create_key_if_missing()  # type: ignore[attr-defined]
            view = rootkeys.rewrap(store, seal, new_seal)
        except SealError as exc:
            raise RootKeyError(str(exc)) from exc
        return view
    finally:
        store.close()


def rotate_root_key(settings: Settings, clock: Clock) -> int:
    """Add a root key version (``trent.seal.rootkeys.rotate``); returns its number."""
    store, _ = open_store(settings)
    try:
        return rootkeys.rotate(store, make_seal(settings), clock.now())
    except SealError as exc:
        raise RootKeyError(str(exc)) from exc
    finally:
        store.close()
