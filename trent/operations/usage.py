"""GetKeyLastUsage, and the tracker that remembers each key's last cryptographic use.

The tracker costs the hot path one dict assignment: each worker keeps the latest use per key in
memory and writes them to storage in one transaction every couple of seconds (and before it
answers GetKeyLastUsage, and at shutdown). So another worker's use shows within that interval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trent.store import Store, UsageRow

if TYPE_CHECKING:  # context imports this module (Env.usage)
    from trent.operations.context import Call, Env, Request, Response

TRACKED = frozenset(
    {
        "Decrypt",
        "DeriveSharedSecret",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateMac",
        "ReEncrypt",
        "Sign",
        "Verify",
        "VerifyMac",
        "Encapsulate",
        "Decapsulate",
    }
)
TRACKING_START_META = "usage_tracking_start"


class UsageTracker:
    """Last use of each KMS key (GetKeyLastUsage) and of each access key (IAM's
    GetAccessKeyLastUsed), kept in memory and written by ``flush`` (every 2 s, ``trent.app``)."""

    def __init__(self, store: Store, region: str = "") -> None:
        self.store = store
        self.region = region  # the home region (the store's default scope)
        # key ARN -> (operation, event time, request id, event id) of its latest use
        self._pending: dict[str, tuple[str, float, str, str]] = {}
        self._access_keys: dict[str, tuple[float, str, str]] = {}  # id -> (when, service, region)

    def record(self, call: Call) -> None:
        """Called after every successful KMS request; key use only for tracked operations."""
        if call.principal is not None:
            region = call.region or self.region  # the request's (its credential scope's)
            self._access_keys[call.principal.access_key_id] = (
                call.event_time,
                call.service,
                region,
            )
        if call.operation in TRACKED:
            use = (call.operation, call.event_time, call.request_id, call.event_id)
            for arn in call.resources:
                self._pending[arn] = use

    def flush(self) -> None:
        if not self._pending and not self._access_keys:
            return
        uses, self._pending = self._pending, {}
        used, self._access_keys = self._access_keys, {}
        bound = self.store.scope
        with self.store.write():
            try:
                for arn, (operation, when, request_id, event_id) in uses.items():
                    region = arn.split(":", 4)[3]
                    key_id = arn.rsplit("/", 1)[-1]
                    self.store.bind_region("" if region == self.region else region)
                    self.store.put_usage(UsageRow(key_id, operation, when, request_id, event_id))
            finally:
                self.store.bind_region(bound)
            for access_key_id, (when, service, region) in used.items():
                self.store.put_access_key_usage(access_key_id, when, service, region)


def get_key_last_usage(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], foreign=False)  # "Cross-account use: No"
    env.authorize(call, "GetKeyLastUsage", key)
    env.usage.flush()
    started = float(env.store.get_meta(TRACKING_START_META) or key.created_at)
    response: dict[str, Any] = {
        "KeyId": key.key_id,  # "the globally unique identifier" [API-ref GetKeyLastUsage]
        "KeyCreationDate": key.created_at,
        # AWS: when tracking began or the key was created, whichever is later.
        "TrackingStartDate": max(started, key.created_at),
        "KeyLastUsage": {},  # an empty object for a key not used since tracking began
    }
    row = env.store.get_usage(key.key_id)
    if row is not None:
        response["KeyLastUsage"] = {
            "Operation": row.operation,
            "Timestamp": row.used_at,
            "CloudTrailEventId": row.event_id,
            "KmsRequestId": row.request_id,
        }
    return response


HANDLERS = {"GetKeyLastUsage": get_key_last_usage}
