"""The PKCS#11 seal: an AES-256 key inside a token (an HSM, or SoftHSM2) wraps the root keyring.

The key (``CKK_AES``, 256 bits, ``CKA_TOKEN``, ``CKA_SENSITIVE``, not ``CKA_EXTRACTABLE``) is
found by its label, or made in the token by ``create_key_if_missing()`` on a data directory's
first start. Root keys are wrapped by the token with ``CKM_AES_GCM`` (12-byte random nonce,
128-bit tag, associated data ``b"trent root keyring\\x00" + context``); wrapped layout
``nonce (12) || ciphertext+tag``. The token's key never leaves it; the unwrapped root keys live
only in process memory. Binding: python-pkcs11 (https://python-pkcs11.readthedocs.io).

Every failure (module that does not load, no token with the label, wrong PIN, missing key, a
wrapped value that does not open) is a one-line ``SealError`` naming it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams

from trent.seal.errors import SealError
from trent.seal.file import WRAP_AAD

DEFAULT_KEY_LABEL = "trent-root"
# PKCS#11 login is per process: one logged-in session per (module, token) serves every seal
# object of the process (a second login fails with CKR_USER_ALREADY_LOGGED_IN).
_SESSIONS: dict[tuple[str, str], Any] = {}
_NONCE_BYTES = 12
_TAG_BITS = 128


# What a token that several processes open at once (every worker of a server starting together)
# may answer for a moment: SoftHSM2 keeps a token in files, and a process that reads them while
# another writes them can get CKR_GENERAL_ERROR, or not see the token at all. Tried again
# (a token that is really missing is reported TRANSIENT_ATTEMPTS * TRANSIENT_PAUSE_S later).
TRANSIENT_ATTEMPTS = 5
TRANSIENT_PAUSE_S = 0.2
T = TypeVar("T")


def _transient_retried(call: Callable[[], T]) -> T:
    """``call()``, again after ``TRANSIENT_PAUSE_S`` when it raises ``pkcs11.GeneralError``
    (at most ``TRANSIENT_ATTEMPTS`` times in all; the last error is raised)."""
    for _ in range(TRANSIENT_ATTEMPTS - 1):
        try:
            return call()
        except pkcs11.GeneralError:
            time.sleep(TRANSIENT_PAUSE_S)
    return call()


def _find_token(lib: Any, module: str, label: str) -> Any:
    """The token labelled ``label``. SoftHSM2 reads its token directory when the library is
    initialized, so a token another process was writing at that moment stays unseen, or
    answers ``CKR_GENERAL_ERROR``, until the library is initialized again: done between
    attempts, unless this process holds a session of that module (which it would end)."""
    for _ in range(TRANSIENT_ATTEMPTS - 1):
        try:
            return lib.get_token(token_label=label)
        except (pkcs11.GeneralError, pkcs11.NoSuchToken):
            time.sleep(TRANSIENT_PAUSE_S)
            if not any(opened == module for opened, _ in _SESSIONS):
                lib.reinitialize()
    return lib.get_token(token_label=label)


@dataclass(frozen=True)
class Pkcs11Config:
    """Where the key is: the module (a ``.so``), the token's label, a file holding the user PIN
    (trailing newline ignored) and the key's label."""

    module: Path
    token_label: str
    pin_file: Path
    key_label: str = DEFAULT_KEY_LABEL


class Pkcs11Seal:
    kind = "pkcs11"

    def __init__(self, config: Pkcs11Config) -> None:
        self.config = config
        self._session: Any = None
        self._key: Any = None

    def describe(self) -> str:
        c = self.config
        return f"PKCS#11 key {c.key_label!r} in token {c.token_label!r}"

    def _pin(self) -> str:
        try:
            pin = self.config.pin_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise SealError(
                f"PKCS#11 PIN file {self.config.pin_file} cannot be read: {exc.strerror}"
            ) from exc
        if not pin:
            raise SealError(f"PKCS#11 PIN file {self.config.pin_file} is empty")
        return pin

    def _open(self) -> Any:
        """A logged-in read-write session (opened once, kept until ``close``)."""
        if self._session is not None:
            return self._session
        c = self.config
        shared = _SESSIONS.get((str(c.module), c.token_label))
        if shared is not None:
            self._session = shared
            return shared
        pin = self._pin()
        if not c.module.is_file():
            raise SealError(f"PKCS#11 module {c.module} does not exist")
        try:
            lib = pkcs11.lib(str(c.module))
        except pkcs11.PKCS11Error as exc:
            raise SealError(f"PKCS#11 module {c.module} does not load") from exc
        try:
            token = _find_token(lib, str(c.module), c.token_label)
        except pkcs11.NoSuchToken as exc:
            raise SealError(f"no PKCS#11 token labelled {c.token_label!r} in {c.module}") from exc
        except pkcs11.MultipleTokensReturned as exc:
            raise SealError(f"several PKCS#11 tokens are labelled {c.token_label!r}") from exc
        except pkcs11.PKCS11Error as exc:
            raise SealError(f"PKCS#11 module {c.module}: {type(exc).__name__}") from exc
        try:
            self._session = _transient_retried(lambda: token.open(user_pin=pin, rw=True))
        except pkcs11.PinIncorrect as exc:
            raise SealError(f"wrong PIN for PKCS#11 token {c.token_label!r}") from exc
        except pkcs11.PinLocked as exc:
            raise SealError(f"the PIN of PKCS#11 token {c.token_label!r} is locked") from exc
        except pkcs11.PKCS11Error as exc:
            raise SealError(
                f"cannot log in to PKCS#11 token {c.token_label!r}: {type(exc).__name__}"
            ) from exc
        _SESSIONS[(str(c.module), c.token_label)] = self._session
        return self._session

    def _find_key(self) -> Any | None:
        session = self._open()
        try:
            return _transient_retried(
                lambda: session.get_key(
                    key_type=KeyType.AES,
                    object_class=ObjectClass.SECRET_KEY,
                    label=self.config.key_label,
                )
            )
        except pkcs11.NoSuchKey:
            return None
        except pkcs11.MultipleObjectsReturned as exc:
            raise SealError(f"several keys are labelled {self.config.key_label!r}") from exc

    def check(self) -> None:
        """Open the token and find the key; ``SealError`` when anything is missing."""
        self._key_or_fail()

    def _key_or_fail(self) -> Any:
        if self._key is None:
            self._key = self._find_key()
        if self._key is None:
            raise SealError(f"{self.describe()} does not exist")
        return self._key

    def create_key_if_missing(self) -> bool:
        """Make the non-extractable AES-256 key in the token unless one has the label; True
        when it made one."""
        if self._find_key() is not None:
            return False
        self._key = self._open().generate_key(
            KeyType.AES,
            256,
            label=self.config.key_label,
            store=True,
            template={
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
            },
        )
        return True

    def wrap(self, key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        params = GCMParams(nonce, WRAP_AAD + context, _TAG_BITS)
        try:
            body = self._key_or_fail().encrypt(
                key, mechanism=Mechanism.AES_GCM, mechanism_param=params
            )
        except pkcs11.PKCS11Error as exc:
            raise SealError(f"{self.describe()} cannot wrap: {type(exc).__name__}") from exc
        return nonce + bytes(body)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        nonce, body = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
        params = GCMParams(nonce, WRAP_AAD + context, _TAG_BITS)
        try:
            return bytes(
                self._key_or_fail().decrypt(
                    body, mechanism=Mechanism.AES_GCM, mechanism_param=params
                )
            )
        except pkcs11.PKCS11Error as exc:
            raise SealError(f"{self.describe()} does not open the root keyring") from exc

    def close(self) -> None:
        """Forget the key; the process's logged-in session stays for the next seal object."""
        self._session = None
        self._key = None
