"""One storage conformance suite (Vault's ExerciseBackend idea): every ``Store`` behaviour the
operations layer relies on, run against ``SQLiteStore`` on a temporary file and against
``PostgresStore`` on a real PostgreSQL the tests start (``tests.pg``). Each test gets an empty
database and may open a second connection to it (``backend.open()``) to see what committed."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from trent.store import (
    AccessKeyRow,
    AliasRow,
    CustomKeyStoreRow,
    GrantRow,
    ImportParametersRow,
    KeyMatch,
    KeyRow,
    MaterialRow,
    SQLiteStore,
    TagRow,
    UsageRow,
    XksCredentialRow,
)
from trent.store.postgres import PostgresStore
from trent.store.records import AccountRow, RoleRow, SessionRow, UserRow
from trent.store.sealed import SEALED_COLUMNS
from trent.store.sqlite import MIGRATIONS

T = TypeVar("T")


@dataclass
class Backend:
    name: str
    open: Callable[[], SQLiteStore]
    integrity_error: type[Exception]

    def count(self, table: str) -> int:
        """Rows of ``table`` as a new connection sees them (what committed)."""
        other = self.open()
        try:
            return int(other._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        finally:
            other.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        path = tmp_path / "trent.db"
        return Backend("sqlite", lambda: SQLiteStore(path), sqlite3.IntegrityError)
    url = request.getfixturevalue("postgres").create_database()
    return Backend("postgres", lambda: PostgresStore(url), psycopg.IntegrityError)


@pytest.fixture
def store(backend: Backend) -> Iterator[SQLiteStore]:
    opened = backend.open()
    yield opened
    opened.close()


def key_row(key_id: str | None = None, **changes: object) -> KeyRow:
    row = KeyRow(
        key_id=key_id or str(uuid.uuid4()),
        created_at=1_700_000_000.5,
        description="d",
        key_usage="ENCRYPT_DECRYPT",
        key_spec="SYMMETRIC_DEFAULT",
        origin="AWS_KMS",
        state="Enabled",
        policy="{}",
    )
    for name, value in changes.items():
        setattr(row, name, value)
    return row


def material_row(key_id: str, n: int = 0, **changes: object) -> MaterialRow:
    row = MaterialRow(
        key_id=key_id,
        material_id=f"{n:064x}",
        sealed=bytes([n]) * 40,
        state="CURRENT",
        created_at=1_700_000_000.0 + n,
    )
    for name, value in changes.items():
        setattr(row, name, value)
    return row


def add_key_with_everything(store: SQLiteStore, key_id: str) -> None:
    with store.write():
        store.insert_key(key_row(key_id))
        store.insert_material(material_row(key_id, 1))
        store.insert_alias(AliasRow(f"alias/{key_id}", key_id, 1.0, 2.0))
        store.put_tag(TagRow(key_id, "team", "crypto"))


# --- schema ----------------------------------------------------------------------------------
def test_migrations_set_schema_version_once(store: SQLiteStore, backend: Backend) -> None:
    assert store.schema_version() == len(MIGRATIONS) >= 1
    key = key_row()
    with store.write():
        store.insert_key(key)
        store.set_meta("account_id", "123456789012")
    again = backend.open()  # a second node or worker: nothing migrates again
    try:
        assert again.schema_version() == len(MIGRATIONS)
        assert again.get_key(key.key_id) == key
        assert again.get_meta("account_id") == "123456789012"
    finally:
        again.close()
    assert store.integrity_check() == "ok"


# --- rows ------------------------------------------------------------------------------------
def test_meta_set_overwrites(store: SQLiteStore) -> None:
    assert store.get_meta("m") is None
    with store.write():
        store.set_meta("m", "1")
        store.set_meta("m", "2")
    assert store.get_meta("m") == "2"


def test_key_insert_get_update(store: SQLiteStore) -> None:
    key = key_row()
    assert store.get_key(key.key_id) is None
    with store.write():
        store.insert_key(key)
    assert store.get_key(key.key_id) == key
    key.state = "Disabled"
    key.description = "changed ✓"
    key.rotation_enabled = True
    key.rotation_period_days = 90
    key.next_rotation_at = 1_800_000_000.25
    key.deletion_date = 1_900_000_000.0
    key.on_demand_rotations = 3
    with store.write():
        store.update_key(key)
    got = store.get_key(key.key_id)
    assert got == key
    assert got is not None and got.rotation_enabled


def test_delete_key_cascades(store: SQLiteStore, backend: Backend) -> None:
    keep, doomed = str(uuid.uuid4()), str(uuid.uuid4())
    add_key_with_everything(store, keep)
    add_key_with_everything(store, doomed)
    with store.write():
        store.put_usage(UsageRow(doomed, "Encrypt", 5.0, "r", "e"))
        store.delete_key(doomed)
    assert store.get_key(doomed) is None
    assert store.list_materials(doomed) == []
    assert store.get_alias(f"alias/{doomed}") is None
    assert store.list_tags(doomed, None, 10) == []
    assert store.count_tags(doomed) == 0
    assert store.get_usage(doomed) is None
    assert store.get_key(keep) is not None
    assert len(store.list_materials(keep)) == 1
    assert store.get_alias(f"alias/{keep}") is not None
    assert store.count_tags(keep) == 1
    for table in ("keys", "materials", "aliases", "tags"):
        assert backend.count(table) == 1, table


def test_materials_keep_insertion_order_update_and_delete(store: SQLiteStore) -> None:
    key_id = str(uuid.uuid4())
    with store.write():
        store.insert_key(key_row(key_id))
        for n in (5, 1, 3):
            store.insert_material(material_row(key_id, n))
    rows = store.list_materials(key_id)
    assert [r.material_id for r in rows] == [f"{n:064x}" for n in (5, 1, 3)]
    assert rows[0].seq < rows[1].seq < rows[2].seq
    rows[0].state = "NON_CURRENT"
    rows[0].sealed = None
    with store.write():
        store.update_material(rows[0])
    again = store.list_materials(key_id)
    assert again[0].state == "NON_CURRENT" and again[0].sealed is None
    assert again[1] == rows[1]
    with store.write():
        store.delete_material(key_id, rows[1].material_id)
    assert [r.material_id for r in store.list_materials(key_id)] == [
        rows[0].material_id,
        rows[2].material_id,
    ]


def test_material_needs_its_key(store: SQLiteStore, backend: Backend) -> None:
    with pytest.raises(backend.integrity_error), store.write():
        store.insert_material(material_row(str(uuid.uuid4())))


def test_aliases_tags_and_access_keys(store: SQLiteStore, backend: Backend) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    with store.write():
        store.insert_key(key_row(first))
        store.insert_key(key_row(second))
        store.insert_alias(AliasRow("alias/app", first, 1.0, 1.0))
        store.put_tag(TagRow(first, "env", "dev"))
        store.put_tag(TagRow(first, "env", "prod"))  # overwrite
        store.insert_access_key(AccessKeyRow("AKIDTEST", b"sealed", "admin", 3.0))
    with store.write():
        store.update_alias(AliasRow("alias/app", second, 1.0, 5.0))
    assert store.get_alias("alias/app") == AliasRow("alias/app", second, 1.0, 5.0)
    assert store.list_tags(first, None, 10) == [TagRow(first, "env", "prod")]
    assert store.get_access_key("AKIDTEST") == AccessKeyRow("AKIDTEST", b"sealed", "admin", 3.0)
    assert store.get_access_key("AKIDOTHER") is None
    with store.write():
        store.delete_alias("alias/app")
        store.delete_tag(first, "env")
        store.delete_tag(first, "absent")
    assert store.get_alias("alias/app") is None
    assert store.count_tags(first) == 0
    with pytest.raises(backend.integrity_error), store.write():
        store.insert_alias(AliasRow("alias/app", str(uuid.uuid4()), 1.0, 1.0))


def test_find_keys_filters_columns_aliases_and_pages(store: SQLiteStore) -> None:
    ids = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(1, 7)]
    store.bind_account("111111111111")
    with store.write():
        for n, key_id in enumerate(ids):
            store.insert_key(
                key_row(
                    key_id,
                    description="Payroll 50%_off" if n in (1, 4) else "other",
                    state="Disabled" if n % 2 else "Enabled",
                    key_spec="RSA_2048" if n == 5 else "SYMMETRIC_DEFAULT",
                )
            )
        store.insert_alias(AliasRow("alias/Team-Billing", ids[2], 1.0, 1.0))
        store.insert_alias(AliasRow("alias/billing-2", ids[3], 1.0, 1.0))
    store.bind_account("222222222222")
    with store.write():  # another account's matching key is never found
        store.insert_key(key_row("00000001-0000-4000-8000-00000000ffff", description="payroll"))
        store.insert_alias(AliasRow("alias/billing", "00000001-0000-4000-8000-00000000ffff", 1, 1))
    store.bind_account("111111111111")

    def found(match: KeyMatch, after: str | None = None, limit: int = 10) -> list[str]:
        return [k.key_id for k in store.find_keys(match, after, limit)]

    assert found(KeyMatch()) == ids
    assert found(KeyMatch(text="payroll")) == [ids[1], ids[4]]  # description, any case
    assert found(KeyMatch(text="billing")) == [ids[2], ids[3]]  # alias substring
    assert found(KeyMatch(text="00000003")) == [ids[2]]  # key id prefix
    assert found(KeyMatch(text="0000-4000")) == []  # inside a key id: not a prefix
    assert found(KeyMatch(text="50%_")) == [ids[1], ids[4]]  # LIKE's wildcards are literal
    assert found(KeyMatch(text="5%%")) == []
    assert found(KeyMatch(text="_off")) == [ids[1], ids[4]]
    assert found(KeyMatch(text="x_ff")) == []
    assert found(KeyMatch(state="Disabled")) == [ids[1], ids[3], ids[5]]
    assert found(KeyMatch(text="payroll", state="Enabled")) == [ids[4]]
    assert found(KeyMatch(key_spec="RSA_2048", state="Disabled")) == [ids[5]]
    assert found(KeyMatch(key_usage="SIGN_VERIFY")) == []
    assert found(KeyMatch(origin="AWS_KMS"), limit=2) == ids[:2]
    assert found(KeyMatch(state="Disabled"), after=ids[1], limit=1) == [ids[3]]
    assert found(KeyMatch(text="billing"), after=ids[3]) == []


def test_account_binding_scopes_keys_and_aliases(store: SQLiteStore) -> None:
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    store.bind_account("111111111111")
    with store.write():
        store.insert_key(key_row(mine))
        store.insert_alias(AliasRow("alias/same", mine, 1.0, 1.0))
    store.bind_account("222222222222")
    with store.write():
        store.insert_key(key_row(theirs))
        store.insert_alias(AliasRow("alias/same", theirs, 1.0, 1.0))  # unique per account
    assert [k.key_id for k in store.list_keys(None, 10)] == [theirs]
    assert store.get_alias("alias/same").key_id == theirs  # type: ignore[union-attr]
    store.bind_account("111111111111")
    assert [k.key_id for k in store.list_keys(None, 10)] == [mine]
    assert store.get_alias("alias/same").key_id == mine  # type: ignore[union-attr]
    assert store.get_key(theirs).account_id == "222222222222"  # type: ignore[union-attr]


def test_due_work_spans_accounts(store: SQLiteStore) -> None:
    due, later, off = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    with store.write():
        store.bind_account("111111111111")
        store.insert_key(key_row(due, rotation_enabled=True, next_rotation_at=10.0))
        store.insert_key(key_row(later, rotation_enabled=True, next_rotation_at=99.0))
        store.bind_account("222222222222")
        store.insert_key(key_row(off, rotation_enabled=False, next_rotation_at=5.0))
        store.insert_key(key_row(deletion_date=20.0, state="PendingDeletion"))
        store.insert_material(material_row(due, 1, valid_to=15.0))
        store.insert_material(material_row(due, 2, valid_to=15.0, sealed=None))
    assert [k.key_id for k in store.due_rotations(50.0, 10)] == [due]
    assert len(store.due_deletions(50.0, 10)) == 1 and store.due_deletions(19.0, 10) == []
    assert [m.material_id for m in store.expired_materials(50.0, 10)] == [f"{1:064x}"]


def test_import_parameters_expire(store: SQLiteStore) -> None:
    key_id = str(uuid.uuid4())
    old = ImportParametersRow("t1", key_id, "RSAES_OAEP_SHA_256", "RSA_2048", b"pk", 10.0)
    new = ImportParametersRow("t2", key_id, "RSAES_OAEP_SHA_256", "RSA_2048", b"pk2", 30.0)
    with store.write():
        store.insert_key(key_row(key_id))
        store.insert_import_parameters(old)
        store.insert_import_parameters(new)
    assert store.get_import_parameters("t1") == old
    with store.write():
        assert store.delete_expired_import_parameters(20.0) == 1
    assert store.get_import_parameters("t1") is None
    assert store.get_import_parameters("t2") == new


def test_usage_keeps_the_latest(store: SQLiteStore) -> None:
    key_id = str(uuid.uuid4())
    with store.write():
        store.insert_key(key_row(key_id))
        store.put_usage(UsageRow(key_id, "Encrypt", 5.0, "r1", "e1"))
        store.put_usage(UsageRow(key_id, "Decrypt", 4.0, "r0", "e0"))  # older: ignored
        store.put_usage(UsageRow(str(uuid.uuid4()), "Encrypt", 5.0, "r", "e"))  # no key
    assert store.get_usage(key_id) == UsageRow(key_id, "Encrypt", 5.0, "r1", "e1")
    with store.write():
        store.insert_access_key(AccessKeyRow("AKIAUSED", b"s", "arn", 1.0))
        store.put_access_key_usage("AKIAUSED", 7.0, "kms", "us-east-1")
        store.put_access_key_usage("AKIAUSED", 6.0, "sts", "eu-west-1")
        store.put_access_key_usage("AKIANONE", 7.0, "kms", "us-east-1")
    assert store.get_access_key_usage("AKIAUSED") == (7.0, "kms", "us-east-1")
    assert store.get_access_key_usage("AKIANONE") is None


def test_access_key_generation_moves_with_every_change(store: SQLiteStore) -> None:
    assert store.access_keys_generation() == 0
    store.insert_access_key(AccessKeyRow("AKIAEXAMPLE", b"sealed", "arn", 1.0))
    assert store.access_keys_generation() == 1
    assert store.set_access_key_status("AKIAEXAMPLE", "Inactive")
    assert store.get_access_key("AKIAEXAMPLE").status == "Inactive"  # type: ignore[union-attr]
    assert store.access_keys_generation() == 2
    assert store.delete_access_key("AKIAEXAMPLE")
    assert store.access_keys_generation() == 3
    assert not store.delete_access_key("AKIAEXAMPLE")
    assert not store.set_access_key_status("AKIAEXAMPLE", "Active")
    assert store.list_access_keys() == []


def test_xks_credentials(store: SQLiteStore) -> None:
    row = XksCredentialRow("XKSAK", b"sealed", "/kms/xks/v1", '["k"]', "{}", 2.0)
    assert store.xks_credentials_generation() == 0
    store.insert_xks_credential(row)
    assert store.get_xks_credential("XKSAK") == row
    assert store.list_xks_credentials() == [row]
    assert store.xks_credentials_generation() == 1
    assert store.delete_xks_credential("XKSAK") and not store.delete_xks_credential("XKSAK")
    assert store.xks_credentials_generation() == 3


def test_custom_key_stores(store: SQLiteStore, backend: Backend) -> None:
    store.bind_account("111122223333")
    row = CustomKeyStoreRow(
        "cks-0123456789abcdef0", "one", "EXTERNAL_KEY_STORE", 1.5, "DISCONNECTED", None,
        "https://xks.example.com", "/kms/xks/v1", "PUBLIC_ENDPOINT", "A" * 20, b"\x00sealed",
    )  # fmt: skip
    with store.write():
        store.insert_custom_key_store(row)
    assert row.account_id == "111122223333"
    assert store.get_custom_key_store(row.custom_key_store_id) == row
    row.state, row.error_code = "FAILED", "INVALID_CREDENTIALS"
    with store.write():
        store.update_custom_key_store(row)
        store.insert_key(
            key_row("k-1", custom_key_store_id=row.custom_key_store_id, xks_key_id="x")
        )
        store.insert_key(key_row("k-2"))
    assert store.list_custom_key_stores() == [row]
    assert [k.key_id for k in store.store_keys(row.custom_key_store_id, None)] == ["k-1"]
    assert store.store_keys(row.custom_key_store_id, "other") == []
    assert store.get_key("k-1") == key_row(
        "k-1", custom_key_store_id=row.custom_key_store_id, xks_key_id="x",
        account_id="111122223333",
    )  # fmt: skip
    store.bind_account("444455556666")
    assert store.list_custom_key_stores() == []
    store.bind_account("111122223333")
    with pytest.raises(backend.integrity_error), store.write():  # a name is unique per account
        store.insert_custom_key_store(
            CustomKeyStoreRow(
                "cks-2",
                "one",
                "EXTERNAL_KEY_STORE",
                2.0,
                "DISCONNECTED",
                None,
                "https://other.example.com",
                "/kms/xks/v1",
                "PUBLIC_ENDPOINT",
                "B" * 20,
                b"s",
            )
        )
    with store.write():
        store.delete_custom_key_store(row.custom_key_store_id)
    assert store.get_custom_key_store(row.custom_key_store_id) is None
    assert backend.count("custom_key_stores") == 0


def test_grants_live_and_retired(store: SQLiteStore) -> None:
    key_id = str(uuid.uuid4())

    def grant(n: int, **changes: Any) -> GrantRow:
        row = GrantRow(f"g{n}", key_id, "111111111111", float(n), f"arn:p{n % 2}", '["Encrypt"]')
        for name, value in changes.items():
            setattr(row, name, value)
        return row

    with store.write():
        store.insert_key(key_row(key_id))
        for n in range(5):
            store.insert_grant(grant(n, retiring_principal="arn:r" if n < 3 else None))
    assert [g.grant_id for g in store.key_grants(key_id)] == ["g0", "g1", "g2", "g3", "g4"]
    first_two = store.list_grants(key_id, None, 2)
    assert [g.grant_id for g in first_two] == ["g0", "g1"]
    rest = store.list_grants(key_id, str(first_two[-1].seq), 10)
    assert [g.grant_id for g in rest] == ["g2", "g3", "g4"]
    assert [g.grant_id for g in store.list_grants(key_id, None, 9, grantee="arn:p1")] == [
        "g1",
        "g3",
    ]
    assert [g.grant_id for g in store.list_grants(key_id, None, 9, grant_id="g2")] == ["g2"]
    with store.write():
        assert store.retire_grant("g1", 99.0)
        assert not store.retire_grant("g1", 100.0)  # no longer live
    assert store.count_grants(key_id) == 4
    assert [g.grant_id for g in store.list_retirable_grants("arn:r", None, 9)] == ["g0", "g2"]
    assert store.key_grants(key_id)[1].retired_at == 99.0  # the tombstone stays


def test_identity_names_are_case_insensitive(store: SQLiteStore, backend: Backend) -> None:
    with store.write():
        store.insert_account(AccountRow("111111111111", 1.0))
        store.insert_user(UserRow("111111111111", "Alice", "AIDA1", "/team/", 2.0))
        store.insert_user(UserRow("111111111111", "bob", "AIDA2", "/", 3.0))
    assert store.get_user("111111111111", "ALICE").user_id == "AIDA1"  # type: ignore[union-attr]
    assert [u.user_name for u in store.list_users("111111111111", "/")] == ["Alice", "bob"]
    assert [u.user_name for u in store.list_users("111111111111", "/team/")] == ["Alice"]
    with pytest.raises(backend.integrity_error), store.write():
        store.insert_user(UserRow("111111111111", "alice", "AIDA3", "/", 4.0))
    with store.write():
        store.insert_role(RoleRow("111111111111", "Ops", "AROA1", "/", 1.0, "{}", 3600, ""))
        store.put_inline_policy("111111111111", "role", "ops", "P", "{1}")
        store.put_inline_policy("111111111111", "role", "Ops", "p", "{2}")  # the same one
        store.attach_policy("111111111111", "role", "Ops", "arn:aws:iam::aws:policy/X")
        store.attach_policy("111111111111", "role", "OPS", "arn:aws:iam::aws:policy/X")
        store.put_identity_tag("111111111111", "role", "Ops", "k", "v1")
        store.put_identity_tag("111111111111", "role", "Ops", "k", "v2")
    assert store.list_inline_policies("111111111111", "role", "Ops") == [("P", "{2}")]
    assert store.attached_policies("111111111111", "role", "ops") == ["arn:aws:iam::aws:policy/X"]
    assert store.attachment_count("arn:aws:iam::aws:policy/X") == 1
    assert store.identity_tags("111111111111", "role", "Ops") == [("k", "v2")]
    with store.write():
        assert store.delete_inline_policy("111111111111", "role", "OPS", "p")
        assert store.detach_policy("111111111111", "role", "Ops", "arn:aws:iam::aws:policy/X")
        store.delete_role("111111111111", "ops")
    assert store.get_role("111111111111", "Ops") is None
    assert store.identity_tags("111111111111", "role", "Ops") == []


def test_sessions_expire(store: SQLiteStore) -> None:
    def session(key: str, expires: float) -> SessionRow:
        return SessionRow(key, b"s", "h", "1", "r", "n", 1.0, expires, "", "[]", "[]", "a", True)

    with store.write():
        store.insert_session(session("ASIA1", 10.0))
        store.insert_session(session("ASIA2", 30.0))
    assert store.get_session("ASIA1") == session("ASIA1", 10.0)
    with store.write():
        assert store.delete_expired_sessions(20.0) == 1
    assert store.get_session("ASIA1") is None and store.get_session("ASIA2") is not None


def test_reseal_finds_and_swaps_values(store: SQLiteStore) -> None:
    column = next(c for c in SEALED_COLUMNS if c.table == "access_keys")
    with store.write():
        store.insert_access_key(AccessKeyRow("AKIAOLD", b"\x01old", "arn", 1.0))
        store.insert_access_key(AccessKeyRow("AKIANEW", b"\x02new", "arn", 1.0))
    stale = store.sealed_values_without(column, b"\x02", 10)
    assert [(v.row, v.sealed) for v in stale] == [(("AKIAOLD",), b"\x01old")]
    with store.write():
        assert store.replace_sealed(stale[0], b"\x02resealed")
        assert not store.replace_sealed(stale[0], b"\x02again")  # changed meanwhile
    assert store.get_access_key("AKIAOLD").sealed_secret == b"\x02resealed"  # type: ignore[union-attr]
    assert store.sealed_values_without(column, b"\x02", 10) == []


# --- transactions ----------------------------------------------------------------------------
def test_exception_inside_write_rolls_everything_back(store: SQLiteStore, backend: Backend) -> None:
    existing = key_row()
    with store.write():
        store.insert_key(existing)
    key_id = str(uuid.uuid4())
    with pytest.raises(RuntimeError, match="boom"), store.write():
        store.insert_key(key_row(key_id))
        store.insert_material(material_row(key_id, 7))
        store.insert_alias(AliasRow("alias/half", key_id, 1.0, 1.0))
        store.put_tag(TagRow(key_id, "t", "v"))
        existing.description = "half-written"
        store.update_key(existing)
        store.set_meta("m", "v")
        raise RuntimeError("boom")
    assert store.get_key(key_id) is None
    assert store.list_materials(key_id) == []
    assert store.get_alias("alias/half") is None
    assert store.count_tags(key_id) == 0
    assert store.get_meta("m") is None
    got = store.get_key(existing.key_id)
    assert got is not None and got.description == "d"
    assert backend.count("keys") == 1
    assert backend.count("materials") == 0
    with store.write():  # usable afterwards
        store.insert_key(key_row(key_id))
    assert store.get_key(key_id) is not None


def test_nested_write_is_one_transaction(store: SQLiteStore) -> None:
    outer, inner = str(uuid.uuid4()), str(uuid.uuid4())
    with pytest.raises(ValueError), store.write():
        store.insert_key(key_row(outer))
        with store.write():
            store.insert_key(key_row(inner))
        raise ValueError("after the inner block")
    assert store.get_key(outer) is None
    assert store.get_key(inner) is None


def test_integrity_error_rolls_back_the_whole_write(store: SQLiteStore, backend: Backend) -> None:
    key = key_row()
    with store.write():
        store.insert_key(key)
    fresh = str(uuid.uuid4())
    with pytest.raises(backend.integrity_error), store.write():
        store.insert_key(key_row(fresh))
        store.insert_key(key_row(key.key_id))  # duplicate primary key
    assert store.get_key(fresh) is None
    with store.write():  # usable afterwards
        store.set_meta("after", "1")
    assert store.get_meta("after") == "1"


def test_held_change_commits_only_when_told(store: SQLiteStore, backend: Backend) -> None:
    other = backend.open()
    try:
        other.data_version()
        before = other.changes()
        with store.holding():
            with store.write():
                store.set_meta("a", "1")
            with pytest.raises(RuntimeError), store.write():  # a failing block: undone alone
                store.set_meta("b", "2")
                raise RuntimeError
            with store.write():
                store.set_meta("c", "3")
        assert store.held
        assert other.get_meta("a") is None  # not committed yet
        store.checkpoint()  # deferred until the commit, not an error inside the transaction
        store.commit_held()
        assert not store.held
        assert (other.get_meta("a"), other.get_meta("b"), other.get_meta("c")) == ("1", None, "3")
        other.data_version()
        assert other.changes() != before

        with store.holding(), store.write():
            store.set_meta("a", "changed")
        store.rollback_held()
        assert store.get_meta("a") == "1" and other.get_meta("a") == "1"
        with store.write():  # outside holding(): commits at once, as before
            store.set_meta("d", "4")
        assert other.get_meta("d") == "4"
    finally:
        other.close()


def test_changes_move_when_any_connection_commits(store: SQLiteStore, backend: Backend) -> None:
    other = backend.open()
    try:
        store.data_version()
        seen = store.changes()
        store.data_version()
        assert store.changes() == seen  # stable while nothing happens
        with store.write():
            store.insert_key(key_row())
        assert store.changes() != seen  # its own commit, without a query
        store.data_version()
        seen = store.changes()
        key = key_row()
        with other.write():
            other.insert_key(key)
        assert store.changes() == seen  # not yet asked
        store.data_version()
        assert store.changes() != seen  # another connection's commit, at the next check
        assert store.get_key(key.key_id) == key
        seen = store.changes()
        with pytest.raises(RuntimeError), other.write():  # a rolled-back write changes nothing
            other.insert_key(key_row())
            raise RuntimeError("abandon")
        store.data_version()
        assert store.changes() == seen
    finally:
        other.close()


# --- keyset paging ---------------------------------------------------------------------------
def walk(
    fetch: Callable[[str | None, int], list[T]], limit: int, position: Callable[[T], str]
) -> list[T]:
    """Page through ``fetch(after, limit)`` the way the operations layer does."""
    seen: list[T] = []
    after = None
    for _ in range(100):
        page = fetch(after, limit)
        assert len(page) <= limit
        seen += page
        if len(page) < limit:
            return seen
        after = position(page[-1])
    raise AssertionError("paging did not end")


def test_list_keys_paging(store: SQLiteStore) -> None:
    ids = [str(uuid.uuid4()) for _ in range(7)]
    with store.write():
        for key_id in ids:
            store.insert_key(key_row(key_id))
    assert [k.key_id for k in store.list_keys(None, 100)] == sorted(ids)
    for limit in (1, 2, 3, 7):
        got = walk(store.list_keys, limit, lambda k: k.key_id)
        assert [k.key_id for k in got] == sorted(ids), limit
    assert [k.key_id for k in store.list_keys(sorted(ids)[3], 2)] == sorted(ids)[4:6]
    assert store.list_keys(sorted(ids)[-1], 5) == []


def test_list_aliases_paging(store: SQLiteStore) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    names = {f"alias/n{i:02d}": first if i % 2 else second for i in range(9)}
    names["alias/Upper"] = first  # byte order: upper case before lower case
    with store.write():
        store.insert_key(key_row(first))
        store.insert_key(key_row(second))
        for name, key_id in names.items():
            store.insert_alias(AliasRow(name, key_id, 1.0, 1.0))
    everything = walk(lambda a, n: store.list_aliases(None, a, n), 2, lambda r: r.name)
    assert [a.name for a in everything] == sorted(names)
    only_first = walk(lambda a, n: store.list_aliases(first, a, n), 2, lambda r: r.name)
    assert [a.name for a in only_first] == sorted(n for n, k in names.items() if k == first)
    assert all(a.key_id == first for a in only_first)


def test_list_tags_paging(store: SQLiteStore) -> None:
    key_id, other = str(uuid.uuid4()), str(uuid.uuid4())
    tag_keys = [f"k{i}" for i in (3, 1, 4, 15, 9, 2, 6)]
    with store.write():
        store.insert_key(key_row(key_id))
        store.insert_key(key_row(other))
        for tag_key in tag_keys:
            store.put_tag(TagRow(key_id, tag_key, tag_key.upper()))
        store.put_tag(TagRow(other, "k0", "x"))
    got = walk(lambda a, n: store.list_tags(key_id, a, n), 3, lambda t: t.tag_key)
    assert [t.tag_key for t in got] == sorted(tag_keys)
    assert all(t.tag_value == t.tag_key.upper() for t in got)
    assert store.count_tags(key_id) == len(tag_keys)
