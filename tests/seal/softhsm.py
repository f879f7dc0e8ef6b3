"""A SoftHSM2 token of the test's own: a temporary token directory, SOFTHSM2_CONF pointing at
it (for the test and every ``trent`` it starts), a token made with ``softhsm2-util``."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")  # Debian's softhsm2 package
PIN = "4781-trent-user"
SO_PIN = "9153-trent-so"


@dataclass(frozen=True)
class SoftHSM:
    conf: Path
    token_label: str
    pin_file: Path

    def args(self, *, pin_file: Path | None = None, token: str | None = None) -> list[str]:
        """``trent serve`` / ``trent admin`` options for this token."""
        return [
            "--seal",
            "pkcs11",
            "--pkcs11-module",
            str(MODULE),
            "--pkcs11-token-label",
            token or self.token_label,
            "--pkcs11-pin-file",
            str(pin_file or self.pin_file),
        ]

    def to_args(self) -> list[str]:
        """``trent admin migrate-seal --to pkcs11`` options for this token."""
        return [
            "--to",
            "pkcs11",
            "--to-pkcs11-module",
            str(MODULE),
            "--to-pkcs11-token-label",
            self.token_label,
            "--to-pkcs11-pin-file",
            str(self.pin_file),
        ]


def make_token(directory: Path, label: str = "trent-test") -> SoftHSM:
    """Initialise a token in ``directory``; set ``SOFTHSM2_CONF`` to ``conf`` to reach it."""
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    init_token(conf, label)
    pin_file = directory / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    return SoftHSM(conf, label, pin_file)


def init_token(conf: Path, label: str) -> None:
    """Make a token labelled ``label`` in the token directory ``conf`` names."""
    command = ["softhsm2-util", "--init-token", "--free", "--label", label]
    subprocess.run(
        [*command, "--pin", PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
        env={"SOFTHSM2_CONF": str(conf), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )
