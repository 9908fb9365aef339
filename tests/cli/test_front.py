"""The command line as an operator meets it: help, version, where the URL comes from, one-line errors,
and a drill that moves nothing unless asked and leaves nothing behind."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import hasession
from hasession._cli import COMMANDS, main, parser
from hasession.testing import RedisServer, SentinelTopology


def hasession_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "HASESSION_URL"} | (env or {})
    command = [sys.executable, "-m", "hasession", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=environ)


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version() -> None:
    done = hasession_cli("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"hasession {hasession.__version__}")


def test_every_command_is_registered_and_described() -> None:
    found = subparsers()
    assert list(found) == COMMANDS
    for name, sub in found.items():
        assert sub.description and len(sub.description) > 40, name


def test_every_option_says_its_default_and_every_number_its_unit() -> None:
    for name, sub in subparsers().items():
        text = sub.format_help()
        for action in sub._actions:
            if not action.option_strings or action.help in (None, argparse.SUPPRESS) or action.dest == "help":
                continue
            if action.default is not argparse.SUPPRESS:
                assert f"(default: {action.default})" in " ".join(text.split()), (name, action.dest)
            if action.type in (int, float):
                assert action.metavar in ("N", "SECONDS", "MS"), (name, action.dest)


def test_demo_says_it_starts_local_redis_servers() -> None:
    assert "Starts local redis-server processes" in subparsers()["demo"].description  # type: ignore[operator]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["drill", "http://h"], "scheme 'http' is not redis(s)"),
        (["drill"], "no URL: give one as an argument, with --url-file PATH, or in $HASESSION_URL"),
        (["switchover", "redis://h"], "switchover needs a redis+sentinel:// URL"),
        (
            ["drill", "redis://h", "--fault", "switchover", "--yes"],
            "--fault switchover needs a redis+sentinel://",
        ),
        (["drill", "redis+sentinel://h/m", "--fault", "switchover"], "add --yes to confirm"),
        (["drill", "redis+sentinel://h/m", "--fault", "sentinel-failover"], "add --yes to confirm"),
        (["drill", "redis://h?socket_timeout=x"], "expected a number of seconds"),
        (["switchover", "--url-file", "/nonexistent/url"], "cannot read --url-file /nonexistent/url"),
    ],
)
def test_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = hasession_cli(*args)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("hasession: error: "), done.stderr
    assert message in done.stderr


def test_an_unreachable_sentinel_is_one_line_and_exit_2() -> None:
    with RedisServer() as server:
        port = server.port
    done = hasession_cli("drill", f"redis+sentinel://127.0.0.1:{port}/mymaster", "--hold-budget", "0.3")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot use redis+sentinel://" in done.stderr, done.stderr


def test_demo_without_redis_server_says_how_to_get_it() -> None:
    done = hasession_cli("demo", env={"HASESSION_REDIS_SERVER": "/nonexistent/redis-server"})
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "redis-server not found" in done.stderr and "apt-get install redis-server" in done.stderr


def test_a_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    assert main(["demo"]) == 2
    assert (
        capsys.readouterr().err
        == "hasession: error: this command needs uvicorn: pip install 'hasession[cli]'\n"
    )


def test_the_url_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:1/0?socket_timeout=x"  # parsed (and refused) before any connection
    from_env = hasession_cli("drill", env={"HASESSION_URL": url})
    url_file = tmp_path / "url"
    url_file.write_text(url + "\n")
    from_file = hasession_cli("drill", "--url-file", str(url_file))
    for done in (from_env, from_file):
        assert done.returncode == 2 and "socket_timeout" in done.stderr, done.stderr
    both = hasession_cli("drill", url, "--url-file", str(url_file))
    assert "not both" in both.stderr


def keys_with_ttl(topology: SentinelTopology) -> dict[bytes, int]:
    client = topology.client_for(topology.current_master())
    return {key: client.pttl(key) for key in client.scan_iter("hasession-drill-*")}


@pytest.mark.slow
def test_a_default_drill_moves_nothing_and_leaves_only_expiring_keys(
    hasession_redis_sentinel: SentinelTopology,
) -> None:
    master = hasession_redis_sentinel.current_master()
    command = [
        sys.executable,
        "-u",
        "-m",
        "hasession",
        "drill",
        hasession_redis_sentinel.url,
        "--users",
        "3",
        "--seconds",
        "2",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as drill:
        assert drill.stdout is not None
        output = [drill.stdout.readline()]
        assert output[0].startswith("drill on "), output
        during: dict[bytes, int] = {}
        deadline = time.monotonic() + 30
        while len(during) < 4 and time.monotonic() < deadline:  # 3 sessions and the canary
            during = keys_with_ttl(hasession_redis_sentinel)
        output += drill.stdout.readlines()
        assert drill.wait(60) == 0, "".join(output)
    assert len(during) >= 4 and all(ttl > 0 for ttl in during.values()), during  # -1: no TTL
    assert any(key.endswith(b":canary") for key in during)
    left = keys_with_ttl(hasession_redis_sentinel)
    assert not any(key.endswith(b":canary") for key in left)
    assert all(0 < ttl <= 60_000 for ttl in left.values()), left  # only the tombstones, briefly
    assert hasession_redis_sentinel.current_master() == master
    assert "fault phase (trigger your failover now)" in "".join(output)
