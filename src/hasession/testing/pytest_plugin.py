"""pytest plugin: real Redis fixtures, fixture factories and ``--hasession-*`` options.

Registered through the ``pytest11`` entry point, so installing hasession is enough. There are no autouse
fixtures: nothing starts unless a test asks for it.

Ready fixtures:

* ``hasession_redis_server``: a session-wide :class:`~hasession.testing.RedisServer`;
  ``hasession_redis_url``: its URL, with the database flushed before each test.
* ``hasession_redis_sentinel``: a fresh :class:`~hasession.testing.SentinelTopology` per test (faults
  change it).
* ``hasession_redis_cluster``: a session-wide :class:`~hasession.testing.ClusterTopology`, checked healthy
  and flushed before each test; ``hasession_fresh_redis_cluster``: a new cluster per test, for tests that
  break it.

Every fixture name starts with ``hasession_``, so none collides with another plugin's.

Factories for your own ``conftest.py``::

    from hasession.testing.pytest_plugin import sentinel_fixture

    partitionable_sentinel = sentinel_fixture(proxied=True, replicas=1)

When a test fails, the end of the logs of every server and topology it used is added to its report.

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict

import pytest

from . import _process, _settings, _workdir
from ._cluster import ClusterTopology
from ._node import log_tails
from ._sentinel import SentinelTopology
from ._server import RedisServer
from ._topology import LocalTopology

if sys.version_info >= (3, 11):
    from typing import Unpack
else:
    from typing_extensions import Unpack

__all__ = [
    "ClusterOptions",
    "Options",
    "SentinelOptions",
    "cluster_fixture",
    "redis_server_fixture",
    "sentinel_fixture",
]

Scope = Literal["session", "package", "module", "class", "function"]
Fixture = Callable[..., object]


# -- options ------------------------------------------------------------------------------------------------


def _option(flag: str, help_text: str, **argparse: object) -> dict[str, object]:
    return {"flag": flag, "help": help_text, **argparse}


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The plugin's command-line options; each is declared once, here, and registered from these fields.

    .. versionadded:: 0.1
    """

    #: The redis-server binary (default: ``$HASESSION_REDIS_SERVER``, then ``redis-server`` on PATH).
    redis_server: str | None = field(
        default=None,
        metadata=_option(
            "--hasession-redis-server", "redis-server binary for hasession's fixtures", metavar="PATH"
        ),
    )
    #: Keep each topology's folder (configs and logs) instead of deleting it; its path is printed.
    keep_logs: bool = field(
        default=False,
        metadata=_option(
            "--hasession-keep-logs", "keep the folders and logs of stopped servers", action="store_true"
        ),
    )
    #: Seconds a server or topology may take to start.
    startup_timeout: float = field(
        default=20.0,
        metadata=_option(
            "--hasession-startup-timeout",
            "seconds a Redis topology may take to start",
            type=float,
            metavar="SECONDS",
        ),
    )

    @classmethod
    def from_config(cls, config: pytest.Config) -> Options:
        """Read the options from pytest's parsed command line."""
        return cls(**{f.name: config.getoption(_dest(f)) for f in dataclasses.fields(cls)})


def _dest(option: dataclasses.Field[object]) -> str:
    return f"hasession_{option.name}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hasession", "hasession: real Redis fixtures")
    for option in dataclasses.fields(Options):
        argparse = dict(option.metadata)
        group.addoption(str(argparse.pop("flag")), dest=_dest(option), default=option.default, **argparse)


_settings_before = pytest.StashKey[_settings.Settings]()


def pytest_configure(config: pytest.Config) -> None:
    options = Options.from_config(config)
    config.stash[_settings_before] = _settings.current()
    _settings.configure(
        redis_server=options.redis_server,
        keep_files=options.keep_logs,
        startup_timeout=options.startup_timeout,
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    before = config.stash.get(_settings_before, None)
    if before is not None:
        _settings.restore(before)


# -- reports and the leak check -----------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    report = yield
    if isinstance(report, pytest.TestReport) and report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, (RedisServer, LocalTopology)):
                report.sections.append((f"hasession logs: {name}", _logs_of(value)))
    return report


def _logs_of(value: RedisServer | LocalTopology) -> str:
    try:
        return log_tails([value.node]) if isinstance(value, RedisServer) else value.log_tails()
    except RuntimeError:  # never started
        return "(no logs)"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _workdir.kept:
        terminalreporter.section("hasession: kept folders")
        for path in _workdir.kept:
            terminalreporter.write_line(str(path))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process started by the harness outlived every fixture, then kill it."""
    leaked = _process.live_children()
    if not leaked:
        return
    _process.kill_all()
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"hasession: {len(leaked)} process(es) were still running after the last test:"]
    lines += [f"  pid {child.pid}: {' '.join(child.argv)}" for child in leaked]
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- fixture factories --------------------------------------------------------------------------------------


class SentinelOptions(TypedDict, total=False):
    """Keyword arguments of :class:`~hasession.testing.SentinelTopology`, for :func:`sentinel_fixture`."""

    replicas: int
    sentinels: int
    down_after_ms: int
    failover_timeout_ms: int
    quorum: int | None
    master_name: str
    proxied: bool
    redis_config: Mapping[str, str] | None


class ClusterOptions(TypedDict, total=False):
    """Keyword arguments of :class:`~hasession.testing.ClusterTopology`, for :func:`cluster_fixture`."""

    primaries: int
    replicas_per_primary: int
    node_timeout_ms: int
    redis_config: Mapping[str, str] | None


def redis_server_fixture(*, scope: Scope = "session", config: Mapping[str, str] | None = None) -> Fixture:
    """A fixture that yields a started :class:`~hasession.testing.RedisServer` and stops it afterwards.

    .. versionadded:: 0.1
    """

    @pytest.fixture(scope=scope)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
        with RedisServer(config=config, tmpdir=tmp_path_factory.getbasetemp()) as server:
            yield server

    return fixture


def sentinel_fixture(*, scope: Scope = "function", **options: Unpack[SentinelOptions]) -> Fixture:
    """A fixture that yields a ready :class:`~hasession.testing.SentinelTopology` built with ``options``.

    Function scope by default, because faults change the topology.

    .. versionadded:: 0.1
    """

    @pytest.fixture(scope=scope)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelTopology]:
        with SentinelTopology(**options, tmpdir=tmp_path_factory.getbasetemp()) as topology:
            yield topology

    return fixture


def cluster_fixture(*, scope: Scope = "session", **options: Unpack[ClusterOptions]) -> Fixture:
    """A fixture that yields a ready :class:`~hasession.testing.ClusterTopology` built with ``options``.

    .. versionadded:: 0.1
    """

    @pytest.fixture(scope=scope)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterTopology]:
        with ClusterTopology(**options, tmpdir=tmp_path_factory.getbasetemp()) as topology:
            yield topology

    return fixture


# -- ready fixtures -----------------------------------------------------------------------------------------

hasession_redis_server = redis_server_fixture(scope="session")
hasession_redis_sentinel = sentinel_fixture(scope="function")
hasession_fresh_redis_cluster = cluster_fixture(scope="function")
hasession_session_cluster = cluster_fixture(scope="session")


@pytest.fixture
def hasession_redis_url(hasession_redis_server: RedisServer) -> str:
    """The URL of the session's ``hasession_redis_server``, flushed for this test (and revived if a
    test broke it)."""
    node = hasession_redis_server.node
    if node.paused:
        node.resume()
    if not node.running:
        hasession_redis_server.restart()
    node.admin.flushall()
    return hasession_redis_server.url


@pytest.fixture
def hasession_redis_cluster(hasession_session_cluster: ClusterTopology) -> ClusterTopology:
    """The session's cluster, flushed for this test, with any node a previous test stopped brought back.
    Tests that kill, fail over or reshard should still use ``hasession_fresh_redis_cluster``."""
    cluster = hasession_session_cluster
    for node in cluster.nodes:
        if node.paused:
            node.resume()
        if not node.running:
            cluster.restart(node)
    cluster.wait_until_healthy(timeout=10.0)
    cluster.flushall()
    return cluster
