"""The root key and the barrier it guards.

A ``Seal`` hands out the 32-byte root key (the file seal keeps it in a 0600 file; an HSM seal can
come later behind the same protocol). The ``Barrier`` is the only way anything secret reaches
storage: every key material and secret access key is sealed with AES-256-GCM under a key derived
from the root key, with the owner's id bound as associated data so that a row copied to another
owner fails to open. ``check_value`` identifies the root key the data was sealed under.
"""

from trent.seal.barrier import Barrier, BarrierError
from trent.seal.check import check_value
from trent.seal.file import FileSeal, Seal

__all__ = ["Barrier", "BarrierError", "FileSeal", "Seal", "check_value"]
