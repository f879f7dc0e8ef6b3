"""Start, watch and stop the servers under test: Trent, moto_server and the bare ASGI app.

Every server runs in its own session (process group) on 127.0.0.1 and a free port, and the
whole group is killed when its context manager exits, whatever happened.
"""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
DEFAULT_REGION = "us-east-1"
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# moto accepts any credentials; these are the documented AWS example keys.
MOTO_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
MOTO_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@dataclass(frozen=True)
class Server:
    """A running server and how to talk to it."""

    name: str
    pid: int
    endpoint: str
    host_header: str
    region: str
    access_key: str
    secret_key: str
    data_dir: Path | None = None


class ServerStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    """The environment for servers: the venv's bin first, no stray AWS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def resolve_command(argv: list[str]) -> list[str]:
    """Find argv[0] in the venv's bin first, so the script works without an activated venv."""
    if argv and argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    found = shutil.which(argv[0], path=child_env()["PATH"]) if argv else None
    return [found, *argv[1:]] if found else argv


@contextmanager
def process_group(
    argv: list[str], log_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run argv in a new session with output to log_path; kill its whole group on exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            resolve_command(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**child_env(), **(extra_env or {})},
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, wait, then SIGKILL whatever is left of it."""
    _signal_group(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT_S)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def log_tail(log_path: Path, lines: int = 30) -> str:
    try:
        text = "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
    return text or "(empty log)"


def wait_until_ready(
    process: subprocess.Popen[bytes], port: int, log_path: Path, ready_file: Path | None = None
) -> None:
    """Wait until the port accepts connections (and ready_file exists), or fail with the log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"server exited with {process.returncode}:\n{log_tail(log_path)}"
            )
        if (ready_file is None or ready_file.exists()) and _port_open(port):
            return
        time.sleep(0.1)
    raise ServerStartError(f"server not ready after {START_TIMEOUT_S:.0f}s:\n{log_tail(log_path)}")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def run_moto(workdir: Path) -> Iterator[Server]:
    port = free_port()
    log_path = workdir / "moto.log"
    argv = ["moto_server", "-H", HOST, "-p", str(port)]
    with process_group(argv, log_path) as process:
        wait_until_ready(process, port, log_path)
        yield _local_server("moto", process.pid, port, MOTO_ACCESS_KEY, MOTO_SECRET_KEY)


@contextmanager
def run_bare(workdir: Path, workers: int) -> Iterator[Server]:
    port = free_port()
    log_path = workdir / "bare.log"
    argv = ["python", "-m", "uvicorn", "bare_app:app", "--app-dir", str(BENCH_DIR)]
    argv += ["--host", HOST, "--port", str(port), "--workers", str(workers)]
    argv += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    argv += ["--log-level", "warning"]
    with process_group(argv, log_path) as process:
        wait_until_ready(process, port, log_path)
        yield _local_server("bare", process.pid, port, MOTO_ACCESS_KEY, MOTO_SECRET_KEY)


@contextmanager
def run_trent(
    workdir: Path, trent_cmd: str, workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Trent on a fresh data directory under workdir; ``extra_env`` added to its environment."""
    port = free_port()
    suffix = "-nometrics" if extra_env else ""
    data_dir = workdir / f"trent-data{suffix}"
    log_path = workdir / f"trent{suffix}.log"
    argv = shlex.split(trent_cmd)
    argv += ["--data-dir", str(data_dir), "--host", HOST, "--port", str(port)]
    argv += ["--workers", str(workers)]
    with process_group(argv, log_path, extra_env) as process:
        wait_until_ready(process, port, log_path, ready_file=data_dir / "credentials")
        access_key, secret_key = read_trent_credentials(data_dir / "credentials")
        region, endpoint = read_trent_config(data_dir / "config", port)
        yield Server(
            name="trent",
            pid=process.pid,
            endpoint=endpoint,
            host_header=_host_header(endpoint),
            region=region,
            access_key=access_key,
            secret_key=secret_key,
            data_dir=data_dir,
        )


def _local_server(name: str, pid: int, port: int, access_key: str, secret_key: str) -> Server:
    endpoint = f"http://{HOST}:{port}"
    return Server(
        name=name,
        pid=pid,
        endpoint=endpoint,
        host_header=_host_header(endpoint),
        region=DEFAULT_REGION,
        access_key=access_key,
        secret_key=secret_key,
    )


def _host_header(endpoint: str) -> str:
    return endpoint.split("://", 1)[-1].rstrip("/")


def read_trent_credentials(path: Path) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    parser.read(path)
    section = parser["trent"]
    return section["aws_access_key_id"], section["aws_secret_access_key"]


def read_trent_config(path: Path, port: int) -> tuple[str, str]:
    """Region and endpoint from DIR/config; missing values fall back to the defaults."""
    parser = configparser.ConfigParser()
    parser.read(path)
    section_name = next((s for s in ("profile trent", "trent") if parser.has_section(s)), None)
    section = dict(parser[section_name]) if section_name else {}
    region = section.get("region", DEFAULT_REGION)
    endpoint = section.get("endpoint_url", f"http://{HOST}:{port}").rstrip("/")
    return region, endpoint


def tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of root_pid and all its descendants, summed from /proc."""
    return sum(_rss_bytes(pid) for pid in _process_tree(root_pid))


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU time (user + system, with reaped children) of root_pid and its live descendants."""
    return sum(_cpu_seconds(pid) for pid in _process_tree(root_pid))


def _cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 of proc(5), the state
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / TICKS_PER_S


def _process_tree(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ppid = _parent_pid(entry)
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry.name))
    tree, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def _parent_pid(proc_dir: Path) -> int | None:
    try:
        stat = (proc_dir / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[1])


def _rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
