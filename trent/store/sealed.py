"""Every column that holds barrier-sealed bytes, in one declared table.

``trent admin reseal`` walks this table to move each sealed value to the newest root key
version, so a table that stores something sealed adds its column here (a test checks that
every ``sealed*`` BLOB column of the schema is listed). ``purpose`` and ``owner`` are what the
value was sealed with (``Barrier.seal(purpose, owner, ...)``); ``owner`` is an SQL expression over
the row's columns; ``row_key`` names the row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str
    row_key: tuple[str, ...]
    purpose: str
    owner: str  # SQL expression over the row giving the barrier owner


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    # trent.operations.keyring.MATERIAL_PURPOSE, material_owner(key_id, material_id)
    SealedColumn(
        "materials",
        "sealed",
        ("key_id", "material_id"),
        "key-material",
        "key_id || '/' || material_id",
    ),
    # trent.identity.credentials.ACCESS_KEY_PURPOSE, owner: the access key id
    SealedColumn("access_keys", "sealed_secret", ("access_key_id",), "access-key", "access_key_id"),
    # trent.identity.credentials.SESSION_PURPOSE, owner: the session's access key id (ASIA...)
    SealedColumn("sessions", "sealed_secret", ("access_key_id",), "sts-session", "access_key_id"),
    # trent.xks.credentials.PURPOSE, owner: the XKS credential's access key id
    SealedColumn(
        "xks_credentials", "sealed_secret", ("access_key_id",), "xks-credential", "access_key_id"
    ),
    # trent.operations.keystores.SECRET_PURPOSE, owner: the custom key store id
    SealedColumn(
        "custom_key_stores",
        "sealed_secret",
        ("custom_key_store_id",),
        "xks-proxy-secret",
        "custom_key_store_id",
    ),
    # trent.operations.imports.WRAPPING_KEY_PURPOSE, owner: the import token id
    SealedColumn(
        "import_parameters", "sealed_private_key", ("token_id",), "wrapping-key", "token_id"
    ),
)


@dataclass(frozen=True)
class SealedValue:
    """One stored sealed value: which column, which row (its ``row_key`` values), its owner."""

    column: SealedColumn
    row: tuple[str, ...]
    owner: str
    sealed: bytes
