"""The root keyring and the barrier it guards.

A ``Seal`` guards the root keyring: the file seal wraps it under a 32-byte key in a 0600 file,
the PKCS#11 seal under a non-extractable AES-256 key inside a token (``trent.seal.pkcs11``).
The keyring (``trent.seal.rootkeys``) holds every version of the root key, wrapped, with the
data. The ``Barrier`` is the only way anything secret reaches storage: every key material and
secret access key is sealed with AES-256-GCM under a key derived from the newest root key
version, with the owner's id bound as associated data so that a row copied to another owner
fails to open. ``check_value`` identifies the keyring the data was sealed under.
"""

from trent.seal.barrier import Barrier, BarrierError, KeyringView
from trent.seal.check import check_value
from trent.seal.errors import SealError
from trent.seal.file import FileSeal, Seal

__all__ = ["Barrier", "BarrierError", "FileSeal", "KeyringView", "Seal", "SealError", "check_value"]
