"""One config file: ``trent serve --config FILE`` / ``TRENT_CONFIG``, under flags and TRENT_*
variables; unknown keys and bad values refused naming them; ``trent config check`` and
``show``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.server import free_port

TRENT = Path(sys.executable).parent / "trent"


def trent(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")}
    return subprocess.run(
        [str(TRENT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
        cwd=cwd,
    )


def shown(output: str) -> dict[str, tuple[str, str]]:
    """``trent config show``'s lines as {name: (value, source)}."""
    settings = {}
    for line in output.splitlines():
        if line.startswith("#"):
            continue
        assignment, source = line.rsplit("  # ", 1)
        name, value = assignment.split(" = ", 1)
        settings[name] = (value, source)
    return settings


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "trent.toml"
    path.parent.mkdir()
    path.write_text(
        'data_dir = "../data"\n'
        "port = 9001\n"
        'region = "eu-west-3"\n'
        "workers = 1\n"
        'metrics_allow = ["10.0.0.0/8", "192.168.0.0/16"]\n'
        "scheduler_interval = 2\n"
    )
    return path


def test_flags_over_variables_over_the_file(config: Path, tmp_path: Path) -> None:
    done = trent(
        "config",
        "show",
        "--config",
        str(config),
        "--region",
        "ap-south-1",
        TRENT_PORT="9002",
        TRENT_REGION="us-west-2",
    )
    assert done.returncode == 0, done.stderr
    settings = shown(done.stdout)
    assert settings["region"] == ('"ap-south-1"', "flag")  # over TRENT_REGION and the file
    assert settings["port"] == ("9002", "environment")  # over the file
    assert settings["workers"] == ("1", "config file")
    assert settings["scheduler_interval"] == ("2.0", "config file")
    assert settings["metrics_allow"] == ('["10.0.0.0/8", "192.168.0.0/16"]', "config file")
    # A relative path in the file is taken from the file's directory.
    assert settings["data_dir"] == (f'"{config.parent / "../data"}"', "config file")
    assert settings["host"] == ('"127.0.0.1"', "default")
    assert "# config file: " + str(config) in done.stdout


def test_trent_config_names_the_file(config: Path) -> None:
    done = trent("config", "show", TRENT_CONFIG=str(config))
    assert done.returncode == 0, done.stderr
    assert shown(done.stdout)["port"] == ("9001", "config file")


def test_serve_runs_with_the_file_under_a_variable(config: Path, tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(TRENT), "serve", "--config", str(config)],
        env={**os.environ, "TRENT_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        # The port from TRENT_PORT, the region and the data directory from the file.
        assert first.startswith(f"Trent on http://127.0.0.1:{port} (account ")
        assert first.rstrip().endswith("region eu-west-3)")
        assert (tmp_path / "data" / "trent.db").is_file()
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                process.poll()
                assert process.returncode is None
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            assert b"trent_keys" in reply.read()
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("prot = 8080\n", "unknown setting 'prot'"),
        ('port = "8080"\n', "port: must be an integer, not '8080'"),
        ("insecure_http = 1\n", "insecure_http: must be true or false, not 1"),
        ('metrics_allow = "10.0.0.0/8"\n', "metrics_allow: must be a list of strings"),
        ("[serve]\nport = 1\n", "unknown setting 'serve'"),
        ("port = \n", "not valid TOML: Invalid value (at line 1, column 8)"),
    ],
)
def test_refused_at_start_naming_the_setting(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "trent.toml"
    path.write_text(text)
    served = trent("serve", "--config", str(path), "--data-dir", str(tmp_path / "data"))
    assert served.returncode == 2
    assert f"Invalid value for '--config': {path}: " in served.stderr
    assert reason in served.stderr
    assert "Traceback" not in served.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made
    checked = trent("config", "check", "--config", str(path))
    assert checked.returncode == 1
    assert reason in checked.stderr and "Traceback" not in checked.stderr


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    path = tmp_path / "trent.toml"
    path.write_text('hots = "0.0.0.0"\nport = 1.5\nworkers = true\n')
    checked = trent("config", "check", "--config", str(path))
    assert checked.returncode == 1
    assert "unknown setting 'hots'" in checked.stderr
    assert "port: must be an integer, not 1.5" in checked.stderr
    assert "workers: must be an integer, not True" in checked.stderr


# Unknown keys, wrong types, values an option refuses, bad values and conflicting settings, all
# in one file: every one is named, one a line, by `config check` and by `serve`.
EVERY_KIND = (
    'data_dir = "data"\n'
    'hots = "0.0.0.0"\n'
    "workers = true\n"
    'seal = "vault"\n'
    'region = "moon"\n'
    "port = 70000\n"
    'metrics_allow = ["10.0.0.0/33", "192.168.0.0/16"]\n'
    "request_timeout = 0\n"
    'tls_cert = "cert.pem"\n'
)
EVERY_PROBLEM = [
    "unknown setting 'hots'",
    "workers: must be an integer, not True",
    "seal: 'vault' is not one of 'file', 'pkcs11'.",
    "region 'moon' is not an AWS region name",
    "port 70000 is out of range",
    "--tls-cert and --tls-key must be given together",
    "request timeout must be more than 0 and at most 300 seconds",
    "metrics allow '10.0.0.0/33' is not an IP network (CIDR)",
]


def test_check_lists_every_kind_of_problem_one_a_line(tmp_path: Path) -> None:
    path = tmp_path / "trent.toml"
    path.write_text(EVERY_KIND)
    checked = trent("config", "check", "--config", str(path))
    assert checked.returncode == 1 and checked.stdout == ""
    lines = checked.stderr.splitlines()
    assert lines[: len(EVERY_PROBLEM)] == [f"{path}: {problem}" for problem in EVERY_PROBLEM]
    assert lines[len(EVERY_PROBLEM)].startswith("(the settings are: account_id, ")
    assert len(lines) == len(EVERY_PROBLEM) + 1
    assert "Traceback" not in checked.stderr


def test_serve_refuses_naming_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "trent.toml"
    path.write_text(EVERY_KIND)
    served = trent("serve", "--config", str(path))
    assert served.returncode == 2
    assert "Traceback" not in served.stderr
    lines = served.stderr.splitlines()
    first = lines.index(f"Error: Invalid value for '--config': {path}: {EVERY_PROBLEM[0]}")
    for problem in EVERY_PROBLEM[1:]:
        assert any(line.endswith(problem) for line in lines[first + 1 :]), problem
    assert not (tmp_path / "data").exists()  # refused before anything was made
    shown_ = trent("config", "show", "--config", str(path))
    assert shown_.returncode == 2 and "region 'moon' is not an AWS region name" in shown_.stderr


def test_settings_alone_refused_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "trent.toml"
    path.write_text('data_dir = "data"\nregion = "moon"\nworkers = 0\nhost = "10.9.8.7"\n')
    served = trent("serve", "--config", str(path))
    assert served.returncode == 1 and "Traceback" not in served.stderr
    assert served.stderr.splitlines() == [
        "Error: region 'moon' is not an AWS region name",
        "workers must be at least 1",
        "refusing plain HTTP on non-loopback address 10.9.8.7: serve HTTPS with "
        "--tls-cert/--tls-key (or `trent admin make-tls-cert`), or pass --insecure-http",
    ]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('region = "moon"\n', "region 'moon' is not an AWS region name"),
        ("port = 70000\n", "port 70000 is out of range"),
        ('metrics_allow = ["10.0.0.0/33"]\n', "metrics allow '10.0.0.0/33' is not an IP network"),
        ('host = "0.0.0.0"\n', "refusing plain HTTP on non-loopback address 0.0.0.0"),
        ('tls_cert = "missing.pem"\n', "--tls-cert and --tls-key must be given together"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "trent.toml"
    path.write_text(f'data_dir = "data"\n{text}')
    checked = trent("config", "check", "--config", str(path))
    assert checked.returncode == 1, checked.stdout
    assert reason in checked.stderr and "Traceback" not in checked.stderr
    served = trent("serve", "--config", str(path))
    assert served.returncode == 1
    assert reason in served.stderr and "Traceback" not in served.stderr


def test_check_accepts_a_good_file_and_ignores_the_environment(config: Path) -> None:
    done = trent("config", "check", "--config", str(config), TRENT_REGION="moon")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{config}: OK (6 settings)\n"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    done = trent("config", "check", "--config", str(tmp_path / "none.toml"))
    assert done.returncode == 1
    assert "cannot read: No such file or directory" in done.stderr
