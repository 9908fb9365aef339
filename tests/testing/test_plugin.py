"""The pytest plugin, run the way a user runs it: pytest in a fresh process on a small test suite."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CONFTEST = """
from hasession.testing.pytest_plugin import redis_server_fixture, sentinel_fixture

one_replica_sentinel = sentinel_fixture(replicas=1, sentinels=1)
module_server = redis_server_fixture(scope="module", config={"maxmemory": "5mb"})
"""

SUITE = """
import redis
import pytest
from hasession.testing import RedisServer, SentinelTopology

def test_writes(hasession_redis_url):
    redis.Redis.from_url(hasession_redis_url).set("left-over", "1")

def test_each_test_gets_a_flushed_database(hasession_redis_url):
    assert redis.Redis.from_url(hasession_redis_url).dbsize() == 0

def test_breaks_the_session_server(hasession_redis_server):
    hasession_redis_server.kill()

def test_redis_url_revives_a_broken_session_server(hasession_redis_url):
    assert redis.Redis.from_url(hasession_redis_url).ping()

def test_factory_options_reach_the_topology(one_replica_sentinel):
    assert isinstance(one_replica_sentinel, SentinelTopology)
    assert (len(one_replica_sentinel.nodes), len(one_replica_sentinel.sentinels)) == (2, 1)
    assert one_replica_sentinel.current_master().role == "master"

def test_factory_config_reaches_the_server(module_server):
    assert module_server.client(decode_responses=True).config_get("maxmemory") == {"maxmemory": "5242880"}

def test_a_failure_shows_the_redis_logs(hasession_redis_server):
    assert hasession_redis_server.client().get("missing") == b"there"
"""

LEAK = """
from hasession.testing import RedisServer

def test_forgets_to_stop():
    RedisServer().start()
"""


def run_pytest(tmp_path: Path, files: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)


def test_fixtures_factories_and_failure_logs(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, {"conftest.py": CONFTEST, "test_suite.py": SUITE})
    assert "1 failed, 6 passed" in result.stdout, result.stdout + result.stderr
    assert "hasession logs: hasession_redis_server" in result.stdout
    assert "Ready to accept connections" in result.stdout
    assert "still running after the last test" not in result.stdout


def test_a_leaked_process_fails_the_run_and_is_killed(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, {"test_leak.py": LEAK})
    assert "1 passed" in result.stdout, result.stdout + result.stderr
    assert "still running after the last test" in result.stdout
    assert result.returncode == pytest.ExitCode.TESTS_FAILED


def test_options_are_registered(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, {}, "--help")
    for option in ("--hasession-redis-server=PATH", "--hasession-keep-logs", "--hasession-startup-timeout"):
        assert option in result.stdout


def test_redis_server_option_is_used(tmp_path: Path) -> None:
    suite = {"test_one.py": "def test_one(hasession_redis_server):\n    pass\n"}
    result = run_pytest(tmp_path, suite, "--hasession-redis-server", str(tmp_path / "no-such-redis-server"))
    assert "no-such-redis-server" in result.stdout, result.stdout + result.stderr
    assert "1 error" in result.stdout


def test_keep_logs_keeps_the_folder(tmp_path: Path) -> None:
    suite = {"test_one.py": "def test_one(hasession_redis_server):\n    pass\n"}
    result = run_pytest(tmp_path, suite, "--hasession-keep-logs", "--basetemp", str(tmp_path / "base"))
    assert "1 passed" in result.stdout, result.stdout + result.stderr
    (kept,) = (tmp_path / "base").glob("hasession-redis-*")
    assert (kept / "redis.log").read_text().count("Ready to accept connections") == 1
    assert str(kept) in result.stdout  # listed in the terminal summary
