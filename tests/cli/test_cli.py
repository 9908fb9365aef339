"""The ``hasession`` command line, run as users run it, against real topologies."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hasession.testing import SentinelTopology

pytestmark = pytest.mark.slow


def hasession(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hasession", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_lists_the_commands() -> None:
    done = hasession("--help")
    assert done.returncode == 0
    for command in ("demo", "drill", "switchover"):
        assert command in done.stdout


def test_switchover_moves_the_master(hasession_redis_sentinel: SentinelTopology) -> None:
    hasession_redis_sentinel.wait_for_replicas_synced()
    old = hasession_redis_sentinel.current_master()
    done = hasession("switchover", hasession_redis_sentinel.url)
    assert done.returncode == 0, done.stderr
    assert "master moved from" in done.stdout
    assert hasession_redis_sentinel.wait_for_new_master(old) != old


def test_drill_passes_through_a_switchover(hasession_redis_sentinel: SentinelTopology) -> None:
    hasession_redis_sentinel.wait_for_replicas_synced()
    done = hasession(
        "drill",
        hasession_redis_sentinel.url,
        "--users",
        "5",
        "--seconds",
        "2",
        "--fault",
        "switchover",
        "--yes",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS: users saw nothing" in done.stdout
    assert "errors seen by users: 0" in done.stdout


def test_drill_fails_when_users_see_errors(hasession_redis_sentinel: SentinelTopology) -> None:
    for i in range(len(hasession_redis_sentinel.sentinels)):  # nothing to ask: every user fails
        hasession_redis_sentinel.kill_sentinel(i)
    done = hasession(
        "drill", hasession_redis_sentinel.url, "--users", "2", "--seconds", "0.5", "--hold-budget", "0.2"
    )
    assert done.returncode != 0
