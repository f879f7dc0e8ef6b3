"""What every operation is handed: the environment (``Env``) and the calling principal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from trent.authz import Authorizer, Principal
from trent.clock import Clock
from trent.errors import DryRunOperationException
from trent.operations.keyring import KeyRing
from trent.seal import Barrier
from trent.store import KeyRow, Store

Request = dict[str, Any]
Response = dict[str, Any]


@dataclass
class Env:
    """The services operations use. Built once per worker process by ``trent.app``."""

    store: Store
    barrier: Barrier
    clock: Clock
    authorizer: Authorizer
    keyring: KeyRing
    region: str
    account_id: str

    def authorize(self, principal: Principal, action: str, key: KeyRow | None = None) -> None:
        resource = self.keyring.arn(key.key_id) if key else f"arn:aws:kms:{self.region}:*"
        self.authorizer.authorize(principal, f"kms:{action}", resource)

    @contextmanager
    def write(self) -> Iterator[None]:
        """One storage transaction; this worker's caches are dropped afterwards."""
        try:
            with self.store.write():
                yield
        finally:
            self.keyring.invalidate()


Handler = Callable[[Env, Principal, Request], Response]


def check_dry_run(request: Request) -> None:
    """Call after every check and before any change or cryptography."""
    if request.get("DryRun"):
        raise DryRunOperationException(
            "The request would have succeeded, but the DryRun option is set."
        )
