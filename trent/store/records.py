"""The rows storage keeps. Plain data; the meaning of states belongs to the operations layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class KeyRow:
    key_id: str
    created_at: float
    description: str
    key_usage: str
    key_spec: str
    origin: str
    state: str
    policy: str
    multi_region: bool = False
    current_material_id: str | None = None
    deletion_date: float | None = None
    pending_window_days: int | None = None
    rotation_enabled: bool = False
    rotation_period_days: int | None = None
    next_rotation_at: float | None = None
    on_demand_rotation_started_at: float | None = None
    on_demand_rotations: int = 0
    account_id: str = ""  # the owning account; filled in by the store from its bound account
    custom_key_store_id: str | None = None  # an external key store's id (Origin
    xks_key_id: str | None = None  # EXTERNAL_KEY_STORE) and the external key's id in it
    region: str = ""  # the region scope ("" = home); filled in by the store from its bound one
    multi_region_type: str | None = None  # "PRIMARY" or "REPLICA" for a multi-Region key

    def __post_init__(self) -> None:
        # stored as INTEGERs, and rows are built from columns as read: bools here, as typed
        # (compiled code, trent.native, checks that a bool is one)
        self.multi_region = bool(self.multi_region)
        self.rotation_enabled = bool(self.rotation_enabled)


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """Which keys ``Store.find_keys`` returns: every given field must hold (``None``: any).

    ``text`` matches a key whose ``key_id`` starts with it, OR one of whose aliases' names
    contains it, OR whose ``description`` contains it (ASCII case-insensitively, ``text`` is
    given in lower case; ``%``, ``_`` and ``\\`` are literal). ``state``, ``key_spec``,
    ``key_usage`` and ``origin`` are equal to the column of that name."""

    text: str | None = None
    state: str | None = None
    key_spec: str | None = None
    key_usage: str | None = None
    origin: str | None = None


@dataclass(slots=True)
class MaterialRow:
    key_id: str
    material_id: str
    sealed: bytes | None  # None once the material is destroyed
    state: str
    created_at: float
    rotated_at: float | None = None  # when it became current through a rotation
    rotation_type: str | None = None  # None for the key's first material
    description: str | None = None
    import_state: str | None = None
    expiration_model: str | None = None
    valid_to: float | None = None
    seq: int = 0  # insertion order, assigned by the store


@dataclass(slots=True)
class AliasRow:
    name: str
    key_id: str
    created_at: float
    updated_at: float
    account_id: str = ""  # the owning account; filled in by the store from its bound account
    region: str = ""  # the region scope ("" = home); filled in by the store from its bound one


@dataclass(slots=True)
class TagRow:
    key_id: str
    tag_key: str
    tag_value: str


@dataclass(slots=True)
class AccessKeyRow:
    access_key_id: str
    sealed_secret: bytes
    principal: str
    created_at: float
    status: str = "Active"  # IAM's AccessKey Status: "Active" or "Inactive"
    account_id: str = ""
    user_name: str | None = None  # None: the account's root


@dataclass(slots=True)
class UsageRow:
    key_id: str
    operation: str
    used_at: float
    request_id: str
    event_id: str


@dataclass(slots=True)
class ImportParametersRow:
    token_id: str
    key_id: str
    wrapping_algorithm: str
    wrapping_key_spec: str
    sealed_private_key: bytes
    expires_at: float


@dataclass(slots=True)
class CustomKeyStoreRow:
    """One custom key store (an external key store: ``trent.operations.keystores``). The
    proxy credential's secret is sealed (owner: the store id); ``state`` is the API's
    ConnectionState, ``error_code`` its ConnectionErrorCode when FAILED."""

    custom_key_store_id: str
    name: str
    store_type: str  # "EXTERNAL_KEY_STORE"
    created_at: float
    state: str
    error_code: str | None
    uri_endpoint: str
    uri_path: str
    connectivity: str
    access_key_id: str
    sealed_secret: bytes
    account_id: str = ""


@dataclass(slots=True)
class AccountRow:
    account_id: str
    created_at: float


@dataclass(slots=True)
class UserRow:
    """An IAM user (IAM API Reference, User): ``user_id`` is ``AIDA`` + 16 characters."""

    account_id: str
    user_name: str
    user_id: str
    path: str
    created_at: float


@dataclass(slots=True)
class RoleRow:
    """An IAM role (IAM API Reference, Role): ``role_id`` is ``AROA`` + 16 characters;
    ``trust_policy`` the AssumeRolePolicyDocument JSON; ``max_session_duration`` seconds."""

    account_id: str
    role_name: str
    role_id: str
    path: str
    created_at: float
    trust_policy: str
    max_session_duration: int
    description: str


@dataclass(slots=True)
class ManagedPolicyRow:
    """A customer managed policy (IAM API Reference, Policy) with its one version ``v1``."""

    account_id: str
    policy_name: str
    policy_id: str
    path: str
    document: str
    description: str
    created_at: float


@dataclass(slots=True)
class SessionRow:
    """Temporary credentials issued by AssumeRole: ``ASIA`` access key id, the secret sealed
    by the barrier, the SHA-256 of the session token (hex), the role and session they act as;
    ``policy`` the session policy JSON or "", ``policy_arns``/``tags`` JSON lists;
    ``chained`` whether a role session assumed it; times are epoch seconds."""

    access_key_id: str
    sealed_secret: bytes
    token_sha256: str
    account_id: str
    role_name: str
    session_name: str
    created_at: float
    expires_at: float
    policy: str
    policy_arns: str
    tags: str
    source_arn: str
    chained: bool

    def __post_init__(self) -> None:
        self.chained = bool(self.chained)  # stored as an INTEGER (see KeyRow)


@dataclass(slots=True)
class XksCredentialRow:
    """One XKS proxy credential (``trent.xks``): the SigV4 access key id AWS KMS signs with,
    its secret (sealed), the path prefix it serves, the Trent key ids it may use (a JSON list)
    and its optional secondary-authorization rules (a JSON object, ``{}`` for none)."""

    access_key_id: str
    sealed_secret: bytes
    path_prefix: str  # "" or "/segment[/segment...]"
    key_ids: str  # JSON list of key ids
    rules: str  # JSON object: requestMetadata field -> list of patterns
    created_at: float


@dataclass(slots=True)
class GrantRow:
    """One grant on a key (issue 10). ``operations`` and ``constraints`` are JSON text (the
    API's ``Operations`` list and ``Constraints`` object, ``""``: none); ``retired_at`` is set
    when the grant is retired or revoked: the row stays as a tombstone, so a grant token of it
    is refused, until the key is deleted (cascade)."""

    grant_id: str
    key_id: str
    account_id: str  # the issuing account: the key's
    created_at: float
    grantee_principal: str
    operations: str
    constraints: str = ""
    retiring_principal: str | None = None
    name: str | None = None
    grantee_service_principal: str | None = None
    retiring_service_principal: str | None = None
    retired_at: float | None = None
    seq: int = 0  # creation order, assigned by the store
