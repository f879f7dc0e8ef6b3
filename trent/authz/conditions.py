"""The condition keys of a KMS request, computed only when a policy asks for one.

Sources: AWS KMS Developer Guide, "AWS KMS condition keys"; IAM User Guide, "AWS global
condition context keys". Names are lower-cased (condition key names are case-insensitive);
every value is a list of strings (numbers in decimal, booleans ``true``/``false``, times as
ISO 8601 UTC for ``aws:CurrentTime`` and epoch seconds for ``aws:EpochTime`` and
``kms:ValidTo``). A key is present only when AWS says it is:

- ``kms:CallerAccount``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType``
  (``Account`` root, ``User``, ``AssumedRole``), ``aws:userid``, ``aws:CurrentTime``,
  ``aws:EpochTime``, ``aws:SecureTransport``, ``aws:SourceIp`` (when the client address is
  known): always. ``aws:username``: IAM users only. ``aws:MultiFactorAuthPresent``: ``false``
  for temporary credentials (sessions), absent for long-term keys. ``aws:PrincipalTag/<k>``: a
  user's tags, or a session's tags over its role's.
- ``kms:KeySpec``, ``kms:KeyUsage``, ``kms:KeyOrigin``: the key's (CreateKey: the request's,
  with its defaults). ``kms:ResourceAliases``: the key's aliases (present when it has one).
  ``aws:ResourceTag/<k>``: the key's tags. ``kms:RequestAlias``: the alias the caller named
  the key by (``KeyId``), absent when it used a key id or ARN.
- From the request when it has the member: ``kms:EncryptionContext:<k>`` and
  ``kms:EncryptionContextKeys`` (``EncryptionContext``, or ReEncrypt's destination and source
  context), ``kms:EncryptionAlgorithm`` (``SYMMETRIC_DEFAULT`` for symmetric cryptographic
  operations that name none), ``kms:SigningAlgorithm``, ``kms:MacAlgorithm``,
  ``kms:KeyAgreementAlgorithm``, ``kms:MessageType``, ``kms:GrantOperations``,
  ``kms:GranteePrincipal``, ``kms:RetiringPrincipal``, ``kms:GrantConstraintType``,
  ``kms:GrantIsForAWSResource`` (``false``), ``kms:RotationPeriodInDays``,
  ``kms:ScheduleKeyDeletionPendingWindowInDays``, ``kms:ExpirationModel``, ``kms:ValidTo``,
  ``kms:WrappingAlgorithm``, ``kms:WrappingKeySpec``, ``kms:BypassPolicyLockoutSafetyCheck``,
  ``kms:DataKeyPairSpec``, ``aws:RequestTag/<k>`` and ``aws:TagKeys`` (``Tags``/``TagKeys``).
- ``kms:ReEncryptOnSameKey`` (ReEncrypt, both its ReEncryptFrom and ReEncryptTo checks):
  ``true`` when the destination key is the key that encrypted the ciphertext, however each is
  named (key id, ARN, alias); asked of ``call.same_key``, which the operation supplies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from trent.authz import Principal, PrincipalType
from trent.store import KeyRow

_SYMMETRIC_OPS = {
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
}
_PRINCIPAL_TYPES = {
    PrincipalType.ROOT: "Account",
    PrincipalType.USER: "User",
    PrincipalType.ASSUMED_ROLE: "AssumedRole",
}
# kms:<name> (lower-cased) -> request member holding it
_REQUEST_MEMBERS = {
    "kms:signingalgorithm": "SigningAlgorithm",
    "kms:macalgorithm": "MacAlgorithm",
    "kms:keyagreementalgorithm": "KeyAgreementAlgorithm",
    "kms:messagetype": "MessageType",
    "kms:granteeprincipal": "GranteePrincipal",
    "kms:retiringprincipal": "RetiringPrincipal",
    "kms:rotationperiodindays": "RotationPeriodInDays",
    "kms:schedulekeydeletionpendingwindowindays": "PendingWindowInDays",
    "kms:expirationmodel": "ExpirationModel",
    "kms:wrappingalgorithm": "WrappingAlgorithm",
    "kms:wrappingkeyspec": "WrappingKeySpec",
    "kms:bypasspolicylockoutsafetycheck": "BypassPolicyLockoutSafetyCheck",
    "kms:datakeypairspec": "KeyPairSpec",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return str(int(value.timestamp()))
    return str(value)


class ConditionKeys(Mapping[str, Sequence[str]]):
    """The condition keys of one request, each computed on first ``get`` (see module doc).

    ``call`` is the ``trent.operations.Call`` (operation, principal, request, client address,
    TLS), ``key`` the key acted on (``None``: an account-level action), ``env`` the
    ``trent.operations.Env`` (its clock, key ring and store are asked only when a policy names
    a key that needs them: the time, the alias used and the key's aliases, tags)."""

    __slots__ = ("_known", "_listed", "call", "env", "key", "operation", "principal", "request")

    def __init__(self, call: Any, key: KeyRow | None, env: Any) -> None:
        self.call = call
        self.key = key
        self.env = env
        self.principal: Principal = call.principal
        self.request: Mapping[str, Any] = call.request or {}
        self.operation: str = call.operation
        self._known: dict[str, Sequence[str] | None] = {}
        self._listed = False  # iterated or counted: what was computed so far was looked at

    @property
    def consulted(self) -> bool:
        """Whether any condition key was asked for, or the keys iterated or counted (a
        decision may then depend on the request)."""
        return self._listed or bool(self._known)

    def now(self) -> float:
        return float(self.env.clock.now())

    @property
    def request_alias(self) -> str | None:
        return None if self.key is None else self.env.keyring.alias_used(self.key)

    def _aliases(self) -> list[str]:
        return list(self.env.keyring.aliases_of(self.key)) if self.key is not None else []

    def _tags(self) -> dict[str, str]:
        if self.key is None:
            return {}
        rows = self.env.store.list_tags(self.key.key_id, None, 1000)
        return {t.tag_key: t.tag_value for t in rows}

    def _principal_tags(self) -> dict[str, str]:
        found: dict[str, str] = {}
        p = self.principal
        identity_tags = getattr(self.env.store, "identity_tags", None)
        if identity_tags is None:
            return found
        if p.type is PrincipalType.USER and p.name:
            found.update(identity_tags(p.account_id, "user", p.name))
        elif p.session is not None:
            found.update(identity_tags(p.account_id, "role", p.session.role_name))
            found.update(dict(p.session.tags))
        return found

    # Mapping
    def __getitem__(self, name: str) -> Sequence[str]:
        value: Sequence[str] | None = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        name = name.lower()
        if name in self._known:
            value = self._known[name]
        else:
            value = self._known[name] = self._compute(name)
        return default if value is None else value

    def __iter__(self) -> Iterator[str]:
        self._listed = True
        return iter([k for k, v in self._known.items() if v is not None])

    def __len__(self) -> int:
        self._listed = True
        return sum(1 for v in self._known.values() if v is not None)

    # computation
    def _compute(self, name: str) -> Sequence[str] | None:
        p = self.principal
        req = self.request
        service, _, rest = name.partition(":")
        if service == "aws":
            return self._global(rest)
        if service != "kms":
            return None
        if name == "kms:calleraccount":
            return [p.account_id]
        if rest.startswith("encryptioncontext:"):
            wanted = rest[len("encryptioncontext:") :]
            for k, v in self._context().items():
                if k.lower() == wanted:
                    return [v]
            return None
        if name == "kms:encryptioncontextkeys":
            context = self._context()
            return list(context) if context or self._has_context() else None
        if name == "kms:encryptionalgorithm":
            if "EncryptionAlgorithm" in req:
                return [req["EncryptionAlgorithm"]]
            if "DestinationEncryptionAlgorithm" in req:
                return [req["DestinationEncryptionAlgorithm"]]
            spec = self.key.key_spec if self.key else None
            if self.operation in _SYMMETRIC_OPS and spec == "SYMMETRIC_DEFAULT":
                return ["SYMMETRIC_DEFAULT"]
            return None
        if name in ("kms:keyspec", "kms:keyusage", "kms:keyorigin"):
            return self._key_property(name)
        if name == "kms:requestalias":
            return [self.request_alias] if self.request_alias else None
        if name == "kms:resourcealiases":
            aliases = list(self._aliases()) if self.key is not None else []
            return aliases or None
        if name == "kms:grantoperations":
            return list(req["Operations"]) if "Operations" in req else None
        if name == "kms:grantconstrainttype":
            constraints = req.get("Constraints") or {}
            return list(constraints) or None
        if name == "kms:grantisforawsresource":
            return ["false"] if self.operation == "CreateGrant" else None
        if name == "kms:validto":
            return [_text(req["ValidTo"])] if "ValidTo" in req else None
        if name == "kms:reencryptonsamekey":
            decide = getattr(self.call, "same_key", None)
            same = decide() if self.operation == "ReEncrypt" and decide is not None else None
            return None if same is None else ["true" if same else "false"]
        member = _REQUEST_MEMBERS.get(name)
        if member is not None and member in req:
            return [_text(req[member])]
        return None

    def _global(self, rest: str) -> Sequence[str] | None:
        p = self.principal
        if rest == "principalarn":
            return [p.session.role_arn if p.session is not None else p.arn]
        if rest == "principalaccount":
            return [p.account_id]
        if rest == "principaltype":
            return [_PRINCIPAL_TYPES.get(p.type, "User")]
        if rest == "username":
            return [p.name] if p.type is PrincipalType.USER and p.name else None
        if rest == "userid":
            return [p.principal_id or p.account_id]
        if rest == "currenttime":
            moment = datetime.fromtimestamp(self.now(), UTC)
            return [moment.strftime("%Y-%m-%dT%H:%M:%SZ")]
        if rest == "epochtime":
            return [str(int(self.now()))]
        if rest == "securetransport":
            return ["true" if self.call.secure else "false"]
        if rest == "sourceip":
            return [self.call.source_ip] if self.call.source_ip else None
        if rest == "multifactorauthpresent":
            return ["false"] if p.session is not None else None
        if rest.startswith("principaltag/"):
            return _tag(self._principal_tags(), rest[len("principaltag/") :])
        if rest.startswith("resourcetag/"):
            return _tag(self._tags(), rest[len("resourcetag/") :]) if self.key else None
        if rest.startswith("requesttag/"):
            tags = {t["TagKey"]: t["TagValue"] for t in self.request.get("Tags") or []}
            return _tag(tags, rest[len("requesttag/") :])
        if rest == "tagkeys":
            if "Tags" in self.request:
                return [t["TagKey"] for t in self.request["Tags"]]
            if "TagKeys" in self.request:
                return list(self.request["TagKeys"])
            return None
        return None

    def _has_context(self) -> bool:
        req = self.request
        members = ("EncryptionContext", "SourceEncryptionContext", "DestinationEncryptionContext")
        return any(m in req for m in members)

    def _context(self) -> Mapping[str, str]:
        req = self.request
        if "EncryptionContext" in req:
            return dict(req["EncryptionContext"] or {})
        merged = dict(req.get("SourceEncryptionContext") or {})
        merged.update(req.get("DestinationEncryptionContext") or {})
        return merged

    def _key_property(self, name: str) -> Sequence[str] | None:
        key, req = self.key, self.request
        if key is not None:
            value = {"kms:keyspec": key.key_spec, "kms:keyusage": key.key_usage}.get(
                name, key.origin
            )
            return [value]
        if self.operation != "CreateKey":
            return None
        if name == "kms:keyspec":
            spec = req.get("KeySpec") or req.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
            return [spec]
        if name == "kms:keyusage":
            return [req.get("KeyUsage", "ENCRYPT_DECRYPT")]
        return [req.get("Origin", "AWS_KMS")]


def _tag(tags: Mapping[str, str], wanted: str) -> Sequence[str] | None:
    for k, v in tags.items():
        if k.lower() == wanted:
            return [v]
    return None
