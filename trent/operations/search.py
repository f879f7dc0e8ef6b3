"""Finding keys by what they are: the web console's key filter over every key of the account.

ListKeys has no filter, so this is not a KMS operation and is not in ``OPERATIONS``: the
console runs it through ``TrentApp.perform`` as a ``ListKeys`` call (same model validation of
``Limit`` and ``Marker``, same ``kms:ListKeys`` authorization and audit record) with
``handler(match)`` as the handler. The response has ListKeys' shape and paging markers.
"""

from __future__ import annotations

from dataclasses import dataclass

from trent.crypto.keyspecs import SPECS
from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Handler, Request, Response
from trent.operations.paging import page
from trent.operations.states import KeyState
from trent.store import KeyMatch

# The enum value sets of DescribeKey's KeyMetadata members (botocore kms model).
KEY_STATES = tuple(state.value for state in KeyState)
KEY_SPECS = tuple(SPECS)
KEY_USAGES = ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT")
ORIGINS = ("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE")


@dataclass(frozen=True)
class KeyFilter:
    """What the console's filter asks for; every given member must hold (``None``: any).

    ``text``: a key id prefix, or a substring of an alias name or of the description (case
    insensitive). ``key_state``, ``key_spec``, ``key_usage``, ``origin``: DescribeKey's
    ``KeyState``, ``KeySpec``, ``KeyUsage``, ``Origin`` values."""

    text: str | None = None
    key_state: str | None = None
    key_spec: str | None = None
    key_usage: str | None = None
    origin: str | None = None

    def match(self) -> KeyMatch:
        """The storage match; ``ValidationException`` (AWS's enum wording) for a value out of
        its set, every violation named."""
        violations = []
        for member, value, allowed in (
            ("keyState", self.key_state, KEY_STATES),
            ("keySpec", self.key_spec, KEY_SPECS),
            ("keyUsage", self.key_usage, KEY_USAGES),
            ("origin", self.origin, ORIGINS),
        ):
            if value is not None and value not in allowed:
                violations.append(
                    errors.VIOLATION.format(
                        value=f"Value '{value}'",
                        path=member,
                        constraint=f"satisfy enum value set: [{', '.join(allowed)}]",
                    )
                )
        if violations:
            n = len(violations)
            raise errors.VALIDATION(
                count=n, errors="errors" if n > 1 else "error", violations="; ".join(violations)
            )
        text = (self.text or "").strip().lower() or None
        return KeyMatch(text, self.key_state, self.key_spec, self.key_usage, self.origin)


def handler(wanted: KeyFilter) -> Handler:
    """A ``ListKeys``-shaped handler that lists only the keys ``wanted`` finds (``Limit`` and
    ``Marker`` as ListKeys'): ``{"Keys": [{"KeyId", "KeyArn"}], "Truncated", "NextMarker"?}``.
    Authorized as ``kms:ListKeys``; one ``Store.find_keys`` statement per page."""

    def find_keys(env: Env, call: Call, req: Request) -> Response:
        env.authorize(call, "ListKeys")
        match = wanted.match()
        keys, more = page(
            req, lambda after, limit: env.store.find_keys(match, after, limit), lambda k: k.key_id
        )
        entries = [{"KeyId": k.key_id, "KeyArn": env.keyring.arn(k.key_id)} for k in keys]
        return {"Keys": entries, **more}

    return find_keys
