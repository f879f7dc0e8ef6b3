"""Durable storage: one interface (``Store``), SQLite behind it, or PostgreSQL for several nodes
(``trent.store.postgres.PostgresStore``, imported only when a database URL is given).

Storage is untrusted and knows nothing of AWS: it keeps rows of keys, key materials, aliases,
tags, access keys and settings. Secret columns hold only barrier-sealed bytes. Every change an
operation makes happens inside one ``write()`` transaction, so an error or a crash leaves either
all of it or none of it.
"""

from trent.store.records import (
    AccessKeyRow,
    AliasRow,
    CustomKeyStoreRow,
    GrantRow,
    ImportParametersRow,
    KeyMatch,
    KeyRow,
    MaterialRow,
    TagRow,
    UsageRow,
    XksCredentialRow,
)
from trent.store.sqlite import SQLiteStore, Store

__all__ = [
    "AccessKeyRow",
    "AliasRow",
    "CustomKeyStoreRow",
    "GrantRow",
    "ImportParametersRow",
    "KeyMatch",
    "KeyRow",
    "MaterialRow",
    "SQLiteStore",
    "Store",
    "TagRow",
    "UsageRow",
    "XksCredentialRow",
]
