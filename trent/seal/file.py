"""The file seal: the root key is 32 random bytes in a file readable by its owner only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

ROOT_KEY_BYTES = 32


class Seal(Protocol):
    def root_key(self) -> bytes: ...


class FileSeal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def create_if_missing(self) -> bool:
        """Write a fresh root key (mode 0600) unless one exists; True when it created one."""
        if self.path.exists():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(ROOT_KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def root_key(self) -> bytes:
        key = self.path.read_bytes()
        if len(key) != ROOT_KEY_BYTES:
            raise ValueError(f"root key file {self.path} must hold exactly {ROOT_KEY_BYTES} bytes")
        return key
