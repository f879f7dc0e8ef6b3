"""How a key's row is named in storage when several regions are served (issue 15).

Storage knows regions only as *scopes*: ``""`` is the home region's (the one a data directory
was made with), any other scope is a region name. A key of the home scope is stored under its
key id; a key of another scope under ``<key id>!<scope>``, so the related keys of a
multi-Region key (the same ``mrk-`` id in several regions) are distinct rows, and every table
that references ``keys.key_id`` (materials, aliases, tags, grants, usage, import parameters)
keeps doing so unchanged. An alias is stored as ``<alias name>!<scope>`` likewise (alias
names are unique per account and region). ``!`` occurs in neither key ids nor alias names
(API-ref: ``^[a-zA-Z0-9:/_-]+$``) and sorts below every character they use, so a scope's
storage names sort as its public names do.

Key ids are 36 characters (a UUID or ``mrk-`` and 32 hex digits), so ``substr(key_id, 1,
36)`` is the public id of any stored key id (the material sealing owner uses it).
"""

from __future__ import annotations

SEPARATOR = "!"
KEY_ID_LENGTH = 36
PUBLIC_KEY_ID_SQL = f"substr(key_id, 1, {KEY_ID_LENGTH})"


def storage_id(key_id: str, scope: str) -> str:
    """The stored key id of ``key_id`` in ``scope``."""
    return f"{key_id}{SEPARATOR}{scope}" if scope else key_id


def storage_alias(name: str, scope: str) -> str:
    """The stored name of alias ``name`` in ``scope``."""
    return f"{name}{SEPARATOR}{scope}" if scope else name


def public_name(stored: str) -> str:
    """The key id or alias name a stored one stands for."""
    return stored.split(SEPARATOR, 1)[0]
