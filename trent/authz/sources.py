"""The identity and session policies of a caller, read from the store and kept per worker.

``PolicySources(store).identity(principal)`` gives the compiled inline and attached managed
policies of a user, or of an assumed-role session's role (root and unknown callers: none);
``session(principal)`` a session's inline and managed session policies, or ``None`` when it has
none. Both are cached per worker and dropped when ``store.changes()`` moves (any commit seen by
this worker: its own or, as of the request's ``data_version`` check, another worker's), so a
policy change is honoured on the next request. Compiled policies come from
``trent.policy.Policy.of`` (cached by document text). ``principal_exists(store, name)``
answers whether a policy's ``AWS`` principal names an account, user or role that exists.
"""

from __future__ import annotations

from typing import Any

from trent.authz import Principal, PrincipalType
from trent.policy import Policy


def policy_arn_parts(arn: str) -> tuple[str, str] | None:
    """(account, policy name) of a customer managed policy ARN, or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "iam"] or not parts[5].startswith("policy/"):
        return None
    return parts[4], parts[5].rsplit("/", 1)[-1]


def principal_exists(store: Any, name: str) -> bool:
    """Whether an ``AWS`` principal of a key policy names something that exists in Trent's
    identity directory: an account (its id or ``arn:aws:iam::<id>:root``), a user
    (``...:user/<path><name>``), a role (``...:role/<path><name>``) or a session of a role
    (``arn:aws:sts::<id>:assumed-role/<role>/<session>``). Any other principal (a group, a
    federated user) is not one KMS or IAM accepts. ``store`` reads the directory
    (``get_account``, ``get_user``, ``get_role``: ``trent.store.Store``)."""
    if name.isdigit():
        return store.get_account(name) is not None
    parts = name.split(":", 5)
    if len(parts) != 6 or store.get_account(parts[4]) is None:
        return False
    service, account, resource = parts[2], parts[4], parts[5]
    kind, _, rest = resource.partition("/")
    if service == "iam" and resource == "root":
        return True
    if service == "iam" and kind in ("user", "role") and rest:
        path, _, short = rest.rpartition("/")
        row: Any = (
            store.get_user(account, short) if kind == "user" else store.get_role(account, short)
        )
        return row is not None and row.path == (f"/{path}/" if path else "/")
    if service == "sts" and kind == "assumed-role":
        role, _, session = rest.partition("/")
        return bool(session) and store.get_role(account, role) is not None
    return False


class PolicySources:
    def __init__(self, store: Any) -> None:
        self.store = store
        self._seen: object = None
        self._identity: dict[tuple[str, str, str], tuple[Policy, ...]] = {}
        self._session: dict[str, tuple[Policy, ...] | None] = {}

    def _fresh(self) -> None:
        changes = self.store.changes() if hasattr(self.store, "changes") else None
        if changes != self._seen:
            self._seen = changes
            self._identity.clear()
            self._session.clear()

    def identity(self, principal: Principal) -> tuple[Policy, ...]:
        if principal.type is PrincipalType.USER and principal.name is not None:
            kind, owner = "user", principal.name
        elif principal.session is not None:
            kind, owner = "role", principal.session.role_name
        else:
            return ()
        self._fresh()
        cache_key = (principal.account_id, kind, owner)
        found = self._identity.get(cache_key)
        if found is None:
            found = self._identity[cache_key] = self._load_identity(*cache_key)
        return found

    def session(self, principal: Principal) -> tuple[Policy, ...] | None:
        session = principal.session
        if session is None or (not session.policy and not session.policy_arns):
            return None
        self._fresh()
        if principal.access_key_id in self._session:
            return self._session[principal.access_key_id]
        texts = [session.policy] if session.policy else []
        for arn in session.policy_arns:
            text = self._managed(arn)
            if text is not None:
                texts.append(text)
        found = tuple(Policy.of(t) for t in texts)
        self._session[principal.access_key_id] = found
        return found

    def _load_identity(self, account: str, kind: str, owner: str) -> tuple[Policy, ...]:
        store = self.store
        if not hasattr(store, "list_inline_policies"):
            return ()
        texts = [doc for _, doc in store.list_inline_policies(account, kind, owner)]
        for arn in store.attached_policies(account, kind, owner):
            text = self._managed(arn)
            if text is not None:
                texts.append(text)
        return tuple(Policy.of(t) for t in texts)

    def _managed(self, arn: str) -> str | None:
        parts = policy_arn_parts(arn)
        row = self.store.get_policy(*parts) if parts else None
        return None if row is None else str(row.document)
