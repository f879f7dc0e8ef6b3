"""What every operation is handed: the environment (``Env``) and the ``Call`` it serves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from trent.authz import Authorizer, PolicyType, Principal, Verdict
from trent.authz.conditions import ConditionKeys
from trent.clock import Clock
from trent.errors import catalogue as errors
from trent.operations.keyring import KeyRing
from trent.operations.usage import UsageTracker
from trent.policy import Decision
from trent.seal import Barrier
from trent.store import KeyRow, Store

Request = dict[str, Any]
Response = dict[str, Any]


@dataclass(slots=True)
class Call:
    """One request: who made it, and what it touched (filled in as it runs; read by audit)."""

    request_id: str
    event_id: str
    event_time: float
    operation: str = ""
    principal: Principal | None = None
    claimed_access_key_id: str | None = None
    request: Request | None = None
    response: Response | None = None
    resources: list[str] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    # a key pair generated off the event loop (operations.pregen); Any, not object: mypyc
    # 2.4 compiles no dataclass with a field annotated ``object`` (KeyError at import)
    prepared: Any = None
    # set by the protocol layer: a handler may leave slow cryptography to it (``offload``)
    may_offload: bool = False
    offloaded: Callable[[], Response] | None = None  # what ``offload`` left to compute
    service: str = "kms"  # the signing name of the API called: "kms", "iam" or "sts"
    source_ip: str | None = None  # the client's address (aws:SourceIp)
    secure: bool = False  # reached over TLS (aws:SecureTransport)
    # each authorization's verdict (``str()`` of one is its reason, for the audit record)
    authorization: list[object] = field(default_factory=list)
    grant_id: str | None = None  # the grant that allowed the call, when one did (audit)
    # ReEncrypt: whether the destination key is the key that encrypted the ciphertext
    # (``kms:ReEncryptOnSameKey``), computed when a policy asks; None: not known
    same_key: Callable[[], bool | None] | None = None
    region: str = ""  # the region of the request's credential scope (audit's awsRegion)


_DENIED = {
    (Decision.IMPLICIT_DENY, PolicyType.RESOURCE): errors.DENIED_NO_RESOURCE_POLICY,
    (Decision.IMPLICIT_DENY, PolicyType.IDENTITY): errors.DENIED_NO_IDENTITY_POLICY,
    (Decision.IMPLICIT_DENY, PolicyType.SESSION): errors.DENIED_NO_SESSION_POLICY,
    (Decision.EXPLICIT_DENY, PolicyType.RESOURCE): errors.DENIED_BY_RESOURCE_POLICY,
    (Decision.EXPLICIT_DENY, PolicyType.IDENTITY): errors.DENIED_BY_IDENTITY_POLICY,
    (Decision.EXPLICIT_DENY, PolicyType.SESSION): errors.DENIED_BY_SESSION_POLICY,
}


@dataclass
class Env:
    """The services operations use. Built once per worker process by ``trent.app``."""

    store: Store
    barrier: Barrier
    clock: Clock
    authorizer: Authorizer
    keyring: KeyRing
    region: str  # the region requests act in: bound per request (``bind``)
    account_id: str  # the account requests act in: bound per request (``bind``)
    usage: UsageTracker
    home_region: str = ""  # the data directory's region (the store's default scope)
    regions: tuple[str, ...] = ()  # every region served, the home region first

    def authorize(self, call: Call, action: str, key: KeyRow | None = None) -> None:
        """The one authorization call (issue 10); records the key as a resource the call
        touched and the verdict's reason on ``call.authorization`` (the audit record's).

        ``action`` is the KMS operation name (``Encrypt``); ``key`` the key acted on (``None``
        for account-level actions: CreateKey, ListKeys, ListAliases, GenerateRandom, ...).
        The authorizer (``trent.authz.kms.PolicyAuthorizer``) combines key, identity and
        session policies; when it answers ``IMPLICIT_DENY`` for a key, a grant on the key (or
        one in the request's ``GrantTokens``) may still allow: ``Verdict(ALLOW,
        PolicyType.GRANT, grant=<id>)``. Refusal: ``AccessDeniedException`` with AWS's message
        for the verdict
        ("User: <arn> is not authorized to perform: kms:Encrypt on resource: <key arn> because
        no resource-based policy allows the kms:Encrypt action", ...; ``errors.DENIED_*``).
        """
        principal = call.principal
        assert principal is not None, "authorize needs an authenticated call"
        if key is None:
            resource = f"arn:aws:kms:{self.region}:{self.account_id}:*"
        else:
            resource = self.keyring.arn(key.key_id)
            call.resources.append(resource)
        keys = self.condition_keys(call, key)
        full = f"kms:{action}"
        tokens = call.request.get("GrantTokens") if call.request else None
        token_grant = None  # a grant in GrantTokens works at once; one that fails to open: refused
        if tokens and key is not None:
            token_grant = _granted(self, call, action, key, tokens)
        verdict = self.authorizer.decide(
            principal, full, resource, key.policy if key is not None else None, keys
        )
        if verdict.decision is Decision.IMPLICIT_DENY and key is not None:
            # --- grants: allow what no policy allowed (never over an explicit deny) ---
            grant = token_grant or _granted(self, call, action, key, None)
            if grant is not None:
                verdict = Verdict(Decision.ALLOW, PolicyType.GRANT, grant=grant)
                call.grant_id = grant
        call.authorization.append(verdict)
        if not verdict.allowed:
            entry = _DENIED.get((verdict.decision, verdict.policy), errors.ACCESS_DENIED)
            raise entry(principal=principal.arn, action=full, resource=resource)

    def condition_keys(self, call: Call, key: KeyRow | None) -> ConditionKeys:
        """The request's condition keys (``trent.authz.conditions``), computed on demand."""
        return ConditionKeys(call, key, self)

    def bind(self, account_id: str, region: str | None = None) -> None:
        """Act in ``account_id`` (the authenticated caller's, or a key's for the scheduler) and
        ``region`` (the request's credential scope's; None: the one bound): ARNs, key and alias
        lookups and new keys belong to them."""
        self.account_id = account_id
        self.region = region or self.region
        self.keyring.bind(account_id, self.region)

    @contextmanager
    def in_region(self, region: str) -> Iterator[None]:
        """Act in ``region`` (same account) within the block; then in the region bound before
        (multi-Region keys: a change to one key that its related keys follow)."""
        before = self.region
        self.bind(self.account_id, region)
        try:
            yield
        finally:
            self.bind(self.account_id, before)

    def refresh(self) -> None:
        """Call once per request, before the handler: drop what another worker made stale."""
        self.keyring.begin()
        if self.keyring.refresh():
            reload = getattr(self.clock, "reload", None)
            if reload is not None:
                reload(self.store)

    @contextmanager
    def write(self) -> Iterator[None]:
        """One storage transaction; this worker's caches are dropped afterwards."""
        try:
            with self.store.write():
                yield
        finally:
            self.keyring.invalidate()


Handler = Callable[[Env, Call, Request], Response]

# The encryption context member a grant's constraints are checked against, by action.
_CONTEXT_MEMBER = {
    "ReEncryptFrom": "SourceEncryptionContext",
    "ReEncryptTo": "DestinationEncryptionContext",
}


def _granted(
    env: Env, call: Call, action: str, key: KeyRow, tokens: list[str] | None
) -> str | None:
    """The id of a grant on ``key`` that allows the caller ``action`` (``tokens``: only the
    grants the request's ``GrantTokens`` carry, each checked to open; ``None``: the key's live
    grants, from the key ring's cache)."""
    from trent.operations.grants import token_grants  # grants imports this module
    from trent.policy.grants import grant_allows

    principal = call.principal
    assert principal is not None
    grants = env.keyring.grants(key).live if tokens is None else token_grants(env, tokens, key)
    request = call.request or {}
    context = request.get(_CONTEXT_MEMBER.get(action, "EncryptionContext"))
    role = principal.session.role_arn if principal.session is not None else None
    return grant_allows(grants, principal.arn, action, context, role_arn=role)


def offload(call: Call, compute: Callable[[], Response]) -> Response:
    """The response ``compute()`` makes: at once, or, when ``call.may_offload``, later, on a
    thread of the protocol layer with no lock held (then ``call.offloaded`` is ``compute`` and
    ``{}`` stands in for the response until it has run). For a private-key operation that takes
    about a millisecond or more (RSA_3072, RSA_4096) and would stall every request on the
    worker's event loop meanwhile. ``compute`` must only compute: every check, lookup and
    name it needs is done before, on the loop; it may raise ``KMSError``."""
    if not call.may_offload:
        return compute()
    call.offloaded = compute
    return {}


def check_dry_run(request: Request) -> None:
    """Call after every check and before any change or cryptography."""
    if request.get("DryRun"):
        raise errors.DRY_RUN()
