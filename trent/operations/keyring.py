"""Finding keys and their material, with a per-worker cache that is never stale.

Keys are scoped by account and region: the ring is bound (``bind``) to the caller's account and
the region of the request's credential scope before each request, and only that account's keys
and aliases in that region are found; ARNs name that account and region (a key ARN of another
region is not found, as in AWS, where each region is its own service). The home region is the
store's default scope; another region is a scope of its own (``trent.store.regions``). A key ARN
of another account is resolved too when the operation is one AWS lets other accounts call with
a key ARN (``resolve(..., foreign=True)``; by default those that accept aliases: the
cryptographic operations and DescribeKey; also GetKeyRotationStatus and the grant operations,
KMS Developer Guide "Allowing users in other accounts to use a KMS key"); its ARN then
names its own account, and its key policy decides (``Env.authorize``). Aliases never cross
accounts. Within that request the foreign key may then be named by its bare id too (Decrypt
finds the key of the ciphertext by id). The alias a request named a key by is kept for the
request (``alias_used``: the ``kms:RequestAlias`` condition key); ``begin()`` forgets both at
the start of each request.

A ``KeyId`` argument may be a key id, a key ARN, an alias name or an alias ARN. Resolved keys and
unsealed material are cached per worker process; the cache is dropped whenever the database's
``data_version`` shows that another worker committed, and after every write of this worker. So a
disable, deletion, rotation or alias change made anywhere is honoured on the very next request.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import orjson

from trent.crypto import asymmetric, ciphertext
from trent.crypto.privatekey import PrivateKey
from trent.errors import catalogue as errors
from trent.policy.grants import Grant
from trent.seal import Barrier, BarrierError
from trent.store import GrantRow, KeyRow, MaterialRow, Store

MATERIAL_PURPOSE = "key-material"
CREATING = "Creating"  # states.KeyState.CREATING (a replica key being made)
UNSEALED_CACHE_LIMIT = 100_000
# A multi-Region key id: "mrk-" and 32 lowercase hex digits (API-ref KeyMetadata.KeyId).
_MRK_ID = re.compile(r"mrk-[0-9a-f]{32}")
# A KMS key or alias ARN: its region (each region is its own service, as in AWS).
_KMS_ARN_REGION = re.compile(r"arn:aws:kms:([a-z0-9-]+):[0-9]{12}:(?:key|alias)/")
# A key ARN of any account: region, key id.
_FOREIGN_KEY_ARN = re.compile(r"arn:aws:kms:([a-z0-9-]+):[0-9]{12}:key/(.+)")


def material_owner(key_id: str, material_id: str) -> str:
    return f"{key_id}/{material_id}"


@dataclass(frozen=True, slots=True)
class LoadedMaterial:
    """One key material, unsealed and ready: ``aead`` for a symmetric key (a
    ``ciphertext.SymmetricKey``), ``private`` for an asymmetric one (a loaded private key) or an
    HMAC key (its bytes)."""

    material_id: str
    row: MaterialRow
    header_prefix: bytes  # the ciphertext header bytes this material always writes
    aead: ciphertext.SymmetricKey | None = None
    private: PrivateKey | bytes | None = None


@dataclass(frozen=True, slots=True)
class KeyGrants:
    """A key's live grants (for evaluation) and the ids of its retired or revoked ones (a
    grant token naming one of those is no longer honoured)."""

    live: tuple[Grant, ...]
    ended: frozenset[str]


def grant_of(row: GrantRow) -> Grant:
    """The evaluation view of a stored grant."""
    constraints = orjson.loads(row.constraints) if row.constraints else {}
    return Grant(
        grant_id=row.grant_id,
        key_id=row.key_id,
        grantee_principal=row.grantee_principal,
        operations=frozenset(orjson.loads(row.operations)),
        context_subset=constraints.get("EncryptionContextSubset"),
        context_equals=constraints.get("EncryptionContextEquals"),
        source_arn=constraints.get("SourceArn"),
    )


class KeyRing:
    def __init__(self, store: Store, barrier: Barrier, region: str, account_id: str) -> None:
        self.store = store
        self.barrier = barrier
        self.home_region = self.region = region
        self.account_id = ""
        self._key_prefix = self._alias_prefix = ""
        self._version = -1
        # Resolved keys by (account, KeyId argument): an alias names a key per account.
        self._keys: dict[tuple[str, str], KeyRow | None] = {}
        self._materials: dict[str, dict[str, LoadedMaterial]] = {}
        # Grants by key id: (live grants, ids of retired/revoked ones), dropped with the rest.
        self._grants: dict[str, KeyGrants] = {}
        # The owning account of each key resolved, so ``arn`` names it (a key of another
        # account is used through its key ARN, then authorized by policy or grant).
        self._owners: dict[str, str] = {}
        # Unsealed material outlives cache drops: reused while its row's sealed bytes are the
        # same, so an invalidation costs a query, not an RSA key load (~0.3 s for RSA_4096).
        self._unsealed: dict[tuple[str, str, bytes], LoadedMaterial] = {}
        self._used_aliases: dict[str, str] = {}  # key id -> alias name, this request
        self._foreign: dict[str, str] = {}  # key id -> account, for keys of other accounts
        self._named_foreign: set[str] = set()  # foreign keys named by ARN in this request
        self.bind(account_id)

    def begin(self) -> None:
        """A new request: forget the aliases the last one used."""
        if self._used_aliases:
            self._used_aliases.clear()
        if self._named_foreign:
            self._named_foreign.clear()

    def alias_used(self, key: KeyRow) -> str | None:
        """The alias name (``alias/x``) this request named ``key`` by, if it did."""
        return self._used_aliases.get(key.key_id) if self._used_aliases else None

    def aliases_of(self, key: KeyRow) -> list[str]:
        """The names of ``key``'s aliases (in its own account)."""
        own = self.account_id
        if key.account_id and key.account_id != own:
            self.store.bind_account(key.account_id)
        try:
            return [a.name for a in self.store.list_aliases(key.key_id, None, 1000)]
        finally:
            self.store.bind_account(own)

    def bind(self, account_id: str, region: str | None = None) -> None:
        """Act in ``account_id`` (the caller's) and ``region`` (None: the one bound) until the
        next call: ARNs name them, only their keys and aliases are found, and the store is
        scoped to them too."""
        region = region or self.region
        if account_id == self.account_id and region == self.region:
            return
        if region != self.region:
            self.region = region
            self.store.bind_region(self.scope_of(region))
            self.invalidate()
            self._owners.clear()
            self._foreign.clear()
        self.account_id = account_id
        self._key_prefix = f"arn:aws:kms:{self.region}:{account_id}:key/"
        self._alias_prefix = f"arn:aws:kms:{self.region}:{account_id}:alias/"
        self.store.bind_account(account_id)

    # --- cache --------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Call once per request: drop everything if another worker committed (→ True)."""
        version = self.store.data_version()
        if version == self._version:
            return False
        self.invalidate()
        self._version = version
        return True

    def scope_of(self, region: str) -> str:
        """The store's scope for ``region`` (``trent.store.regions``: "" is the home region)."""
        return "" if region == self.home_region else region

    def region_of(self, key: KeyRow) -> str:
        """The region ``key`` (a row of any scope) belongs to."""
        return key.region or self.home_region

    def arn_in(self, region: str, key: KeyRow) -> str:
        """The key ARN of ``key`` as it is named in ``region``."""
        return f"arn:aws:kms:{region}:{key.account_id or self.account_id}:key/{key.key_id}"

    def invalidate(self) -> None:
        self._keys.clear()
        self._materials.clear()
        self._grants.clear()

    # --- names --------------------------------------------------------------------------------
    def arn(self, key_id: str) -> str:
        if self._foreign:
            account = self._foreign.get(key_id)
            if account is not None and account != self.account_id:
                return f"arn:aws:kms:{self.region}:{account}:key/{key_id}"
        return self._key_prefix + key_id

    def alias_arn(self, alias_name: str) -> str:
        return self._alias_prefix + alias_name.removeprefix("alias/")

    # --- resolution ---------------------------------------------------------------------------
    def resolve(
        self,
        key_ref: str,
        *,
        aliases: bool = True,
        fresh: bool = False,
        foreign: bool | None = None,
    ) -> KeyRow:
        """The key a ``KeyId`` argument names, or ``NotFoundException``.

        ``fresh`` reads storage directly (use it inside a write transaction). ``foreign``: whether
        the operation may name another account's key by its key ARN (AWS's "Cross-account use:
        Yes" operations: the cryptographic ones, DescribeKey, GetKeyRotationStatus and the grant
        operations; default: when it accepts aliases). Otherwise such an ARN names no key of the
        caller's account: ``NotFoundException``.
        """
        allow_foreign = aliases if foreign is None else foreign
        if not fresh and (aliases or not _is_alias(key_ref)):  # an alias cached by another
            cached = self._keys.get((self.account_id, key_ref))  # operation names no key here
            if cached is not None and (allow_foreign or cached.account_id == self.account_id):
                if cached.account_id != self.account_id:
                    self._named_foreign.add(cached.key_id)
                if aliases and _is_alias(key_ref):
                    self._note_alias(key_ref, cached.key_id)
                return cached
        key_id = self._key_id_of(key_ref, aliases)
        if key_id is None and not key_ref.startswith("arn:"):
            raise errors.INVALID_KEY_ID(key_ref=key_ref)
        row = self.store.get_key(key_id) if key_id else None
        if (
            row is not None
            and row.account_id != self.account_id
            and row.key_id not in self._named_foreign
        ):
            if allow_foreign and key_ref == self._foreign_arn(row):  # named by its key ARN
                self._foreign[row.key_id] = row.account_id
                self._named_foreign.add(row.key_id)
            else:
                row = None  # another account's, not named by its ARN in this request: not found
        if row is None and key_id is None and aliases and allow_foreign:
            row = self._foreign_key(key_ref)
        if row is None:
            raise errors.KEY_NOT_FOUND(arn=self._describe(key_ref))
        if row.state == CREATING:
            row = self._created(row)
        if aliases and _is_alias(key_ref):
            self._note_alias(key_ref, row.key_id)
        if not fresh and (row.account_id == self.account_id or key_ref.startswith("arn:")):
            self._keys[(self.account_id, key_ref)] = row  # a foreign key only by its ARN
        return row

    def _created(self, row: KeyRow) -> KeyRow:
        """A replica key made by ReplicateKey (``Creating``) is complete on its first read:
        ``Enabled``, or ``PendingImport`` while it has no key material (an EXTERNAL key)."""
        with self.store.write():
            fresh = self.store.get_key(row.key_id)
            if fresh is None:
                return row
            if fresh.state == CREATING:
                fresh.state = "Enabled" if fresh.current_material_id else "PendingImport"
                self.store.update_key(fresh)
        self.invalidate()
        return fresh

    def _note_alias(self, key_ref: str, key_id: str) -> None:
        name = key_ref if key_ref.startswith("alias/") else "alias/" + key_ref.split(":alias/")[1]
        self._used_aliases[key_id] = name

    def _foreign_key(self, key_ref: str) -> KeyRow | None:
        """The key a key ARN of another account (in this region) names, or None."""
        parts = key_ref.split(":", 5)
        if len(parts) != 6 or parts[2] != "kms" or parts[3] != self.region:
            return None
        if not parts[5].startswith("key/"):
            return None
        key_id = _as_uuid(parts[5][4:])
        row = self.store.get_key(key_id) if key_id else None
        if row is None or row.account_id != parts[4]:
            return None
        self._foreign[row.key_id] = row.account_id
        self._named_foreign.add(row.key_id)
        return row

    def ciphertext_ref(self, key_id: str) -> str:
        """How to resolve the key a ciphertext names: its key id, or for another account's
        key its key ARN (Decrypt without KeyId works across accounts [API-ref Decrypt]).
        Owners are remembered (a key never changes account), so this queries once per key."""
        owner = self._owners.get(key_id)
        if owner is None:
            row = self.store.get_key(key_id)
            if row is None:
                return key_id
            owner = self._owners[key_id] = row.account_id
        if owner == self.account_id:
            return key_id
        return f"arn:aws:kms:{self.region}:{owner}:key/{key_id}"

    def _foreign_arn(self, row: KeyRow) -> str:
        return f"arn:aws:kms:{self.region}:{row.account_id}:key/{row.key_id}"

    def _key_id_of(self, key_ref: str, aliases: bool) -> str | None:
        if key_ref.startswith("arn:"):
            if key_ref.startswith(self._key_prefix):
                return _as_uuid(key_ref[len(self._key_prefix) :])
            foreign = _FOREIGN_KEY_ARN.fullmatch(key_ref)
            if foreign is not None and foreign.group(1) == self.region:
                return _as_uuid(foreign.group(2))
            other = _KMS_ARN_REGION.match(key_ref)
            if other is not None and other.group(1) != self.region:
                raise errors.ARN_OF_ANOTHER_REGION(region=other.group(1))
            if key_ref.startswith(self._alias_prefix) and aliases:
                return self._alias_target("alias/" + key_ref[len(self._alias_prefix) :], key_ref)
            if key_ref.startswith("arn:aws:kms:"):
                return None
            raise errors.INVALID_ARN(key_ref=key_ref)
        if key_ref.startswith("alias/"):
            if not aliases:
                raise errors.INVALID_KEY_ID(key_ref=key_ref)
            return self._alias_target(key_ref, self.alias_arn(key_ref))
        return _as_uuid(key_ref)

    def _alias_target(self, alias_name: str, shown: str) -> str:
        alias = self.store.get_alias(alias_name)
        if alias is None:
            raise errors.ALIAS_NOT_FOUND(alias_arn=shown)
        return alias.key_id

    def _describe(self, key_ref: str) -> str:
        return key_ref if key_ref.startswith("arn:") else self.arn(key_ref)

    # --- grants -------------------------------------------------------------------------------
    def grants(self, key: KeyRow) -> KeyGrants:
        """The grants of ``key``: cached per worker like keys (dropped on ``data_version``)."""
        found = self._grants.get(key.key_id)
        if found is None:
            rows = self.store.key_grants(key.key_id)
            live = tuple(grant_of(r) for r in rows if r.retired_at is None)
            ended = frozenset(r.grant_id for r in rows if r.retired_at is not None)
            found = self._grants[key.key_id] = KeyGrants(live, ended)
        return found

    # --- material -----------------------------------------------------------------------------
    def materials(self, key: KeyRow) -> dict[str, LoadedMaterial]:
        """Every material of ``key`` that still exists, unsealed, by material id."""
        loaded = self._materials.get(key.key_id)
        if loaded is None:
            loaded = {}
            for row in self.store.list_materials(key.key_id):
                if row.sealed is not None:
                    loaded[row.material_id] = self._load(key.key_spec, row)
            self._materials[key.key_id] = loaded
        return loaded

    def material_row(self, key: KeyRow, material_id: str) -> MaterialRow | None:
        """The stored row of one material, held or destroyed."""
        for row in self.store.list_materials(key.key_id):
            if row.material_id == material_id:
                return row
        return None

    def current(self, key: KeyRow) -> LoadedMaterial:
        """The CURRENT material of ``key``. A key without usable current material (its copy
        deleted or expired while this request ran) answers as AWS does for a key in that
        state: ``KMSInvalidStateException`` "<key ARN> is pending import."."""
        material = None
        if key.current_material_id:
            material = self.materials(key).get(key.current_material_id)
        if material is None:
            raise errors.KEY_STATE(
                arn=self.arn(key.key_id),
                phrase="pending import",
                detail="the key has no usable current key material",
            )
        return material

    def private_key(self, key: KeyRow) -> PrivateKey:
        """The current private key of an asymmetric ``key``."""
        private = self.current(key).private
        if not isinstance(private, PrivateKey):
            raise errors.INTERNAL(detail=f"{key.key_id}: the current material is no private key")
        return private

    def hmac_key(self, key: KeyRow) -> bytes:
        """The current key bytes of an HMAC ``key``."""
        private = self.current(key).private
        if not isinstance(private, bytes):
            raise errors.INTERNAL(detail=f"{key.key_id}: the current material is no HMAC key")
        return private

    def public_key(self, key: KeyRow) -> bytes:
        return self.private_key(key).public_der

    def _load(self, spec: str, row: MaterialRow) -> LoadedMaterial:
        assert row.sealed is not None
        identity = (row.key_id, row.material_id, row.sealed)
        material = self._unsealed.get(identity)
        if material is None:
            if len(self._unsealed) >= UNSEALED_CACHE_LIMIT:
                self._unsealed.clear()
            material = self._unsealed[identity] = self._unseal(spec, row)
        return material

    def _unseal(self, spec: str, row: MaterialRow) -> LoadedMaterial:
        if row.sealed is None:
            raise errors.INTERNAL(detail="stored key material was destroyed")
        owner = material_owner(row.key_id, row.material_id)
        try:
            secret = self.barrier.open(MATERIAL_PURPOSE, owner, row.sealed)
        except BarrierError as exc:
            raise errors.INTERNAL(detail="stored key material failed to open") from exc
        prefix = ciphertext.header_prefix(row.key_id, row.material_id)
        if spec == "SYMMETRIC_DEFAULT":
            aead = ciphertext.SymmetricKey(secret)
            return LoadedMaterial(row.material_id, row, prefix, aead=aead)
        if spec.startswith("HMAC_"):
            return LoadedMaterial(row.material_id, row, prefix, private=secret)
        try:
            private = asymmetric.load_private(spec, secret)
        except asymmetric.CryptoError as exc:
            raise errors.INTERNAL(detail="stored key material failed to load") from exc
        return LoadedMaterial(row.material_id, row, prefix, private=private)


def _is_alias(key_ref: str) -> bool:
    return key_ref.startswith("alias/") or (key_ref.startswith("arn:") and ":alias/" in key_ref)


def _as_uuid(text: str) -> str | None:
    """The key id ``text`` names: a UUID (normalised) or a multi-Region ``mrk-`` id."""
    if _MRK_ID.fullmatch(text):
        return text
    try:
        return str(uuid.UUID(text)) if len(text) == 36 else None
    except ValueError:
        return None
