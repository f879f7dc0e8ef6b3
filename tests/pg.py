"""A real PostgreSQL for tests: ``initdb`` into a temporary directory as an unprivileged user
(initdb refuses root), ``pg_ctl start`` on a free port, trust authentication on 127.0.0.1 only,
the unix socket inside the directory; one fresh database per caller. Debian's ``postgresql``
package provides the binaries (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.server import free_port

USER = "trentpg"  # owns the cluster when the tests run as root (initdb refuses root)
INITDB = ["-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C.UTF-8"]
STOP = ["-m", "immediate", "-w", "stop"]


def pg_bin() -> Path:
    """The directory of initdb/pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts)
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return Path(found).parent


def _as_owner() -> list[str]:
    """The command prefix that runs a PostgreSQL binary as a non-root user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            check=True,
        )
    return ["runuser", "-u", USER, "--"]


@dataclass
class PostgresCluster:
    directory: Path
    port: int = field(default_factory=free_port)
    fsync: bool = False  # off for tests (nothing here survives a power loss anyway)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @classmethod
    def make(cls) -> PostgresCluster:
        """A cluster in a new directory under the system's temporary directory (reachable by
        the unprivileged owner, unlike pytest's private ``tmp_path``; short enough for the
        unix socket's path)."""
        return cls(Path(tempfile.mkdtemp(prefix="trent-pg-")))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresCluster:
        self.directory.mkdir(parents=True, exist_ok=True)
        prefix = _as_owner()
        if prefix:
            shutil.chown(self.directory, USER)
            os.chmod(self.directory, 0o700)
        binaries = pg_bin()
        subprocess.run(
            [*prefix, str(binaries / "initdb"), "-D", str(self.data), "-U", "postgres", *INITDB],
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            f"-c max_connections=200 -c fsync={'on' if self.fsync else 'off'}"
        )
        log = ["-l", str(self.directory / "log"), "-w", "-t", "60"]
        subprocess.run(
            [*prefix, str(binaries / "pg_ctl"), "-D", str(self.data), "-o", options, *log, "start"],
            check=True,
            capture_output=True,
        )
        return self

    def create_database(self) -> str:
        """A new, empty database; its URL. Its default collation is ICU's en-US, whose order
        is not byte order, as on many real servers (Trent's columns must not depend on it)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu "
                "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'".encode()
            )
        return self.url(name)

    def restart(self) -> None:
        """Stop at once (every connection dropped, as in a crash or failover), start again."""
        log = ["-l", str(self.directory / "log"), "-w", "-t", "60", "-m", "immediate"]
        subprocess.run(
            [*_as_owner(), str(pg_bin() / "pg_ctl"), "-D", str(self.data), *log, "restart"],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [*_as_owner(), str(pg_bin() / "pg_ctl"), "-D", str(self.data), *STOP],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.directory, ignore_errors=True)
