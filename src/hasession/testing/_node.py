"""One redis-server or Sentinel process: its folder, config, log, start with readiness, and signals."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import redis

from . import _process, _settings
from ._errors import StartupError
from ._redisops import PROBE_TIMEOUT, admin_client, command, info, role
from ._tls import TLSFiles
from ._wait import TRANSIENT_ERRORS, wait_until

__all__ = ["Node", "NodeKind", "NodeRole", "data_node_defaults", "log_tails", "render_config"]

NodeKind = Literal["data", "sentinel"]
NodeRole = Literal["master", "slave", "sentinel", "down", "unreachable"]

HOST = "127.0.0.1"
_PORT_CLASH = "Address already in use"
_PORT_ATTEMPTS = 5
_SIGNAL_TIMEOUT = 5.0
_SHUTDOWN_TIMEOUT = 30.0
_EMPTY_VALUE = '""'


def data_node_defaults() -> dict[str, str]:
    """The test-friendly redis-server settings every data node starts with (overridable per directive)."""
    defaults = {
        "save": "",
        "appendonly": "no",
        "dbfilename": "dump.rdb",
        # Redis's defaults hide a broken link for a long time (repl-timeout 60 s, pings every 10 s) and delay
        # a first diskless sync by 5 s; tests want failures noticed and replicas in sync quickly.
        "repl-timeout": "3",
        "repl-ping-replica-period": "1",
        "repl-diskless-sync": "yes",
        "repl-diskless-sync-delay": "0",
        "repl-diskless-load": "on-empty-db",  # a fresh replica loads from the socket, not through a file
    }
    if _settings.redis_version() >= (7, 0):
        defaults["enable-debug-command"] = "local"  # lets tests use DEBUG SLEEP for short stalls
    return defaults


def render_config(lines: Iterable[tuple[str, str]]) -> str:
    """Config-file text; an empty value is written as ``""`` (as in ``save ""``)."""
    return "".join(f"{key} {value or _EMPTY_VALUE}\n" for key, value in lines)


def quote(path: Path) -> str:
    """A path as a double-quoted config value."""
    escaped = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class Node:
    """A handle on one ``redis-server`` (``kind="data"``) or Sentinel (``kind="sentinel"``) of the harness.

    ``host``/``port`` is the address clients use: with a proxied topology that is the node's fault-injecting
    proxy, and ``direct_port`` is the server's own port.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        name: str,
        kind: NodeKind,
        workdir: Path,
        config: Mapping[str, str] | None = None,
        extra_config: Iterable[tuple[str, str]] = (),
        port: int | None = None,
        proxy_port: int | None = None,
        tls: TLSFiles | None = None,
        password: str | None = None,
    ) -> None:
        #: A name unique within the topology, such as ``"redis-0"`` or ``"sentinel-2"``.
        self.name = name
        #: ``"data"`` for a redis-server, ``"sentinel"`` for a Sentinel.
        self.kind: NodeKind = kind
        #: The node's own folder: config, log, data files.
        self.workdir = workdir
        #: Always the loopback address.
        self.host = HOST
        #: The port of the node's proxy when the topology is proxied, else None.
        self.proxy_port = proxy_port
        #: The certificates when the node serves TLS (on ``port``; ``direct_port`` stays plain text).
        self.tls = tls
        #: The password of the node's default user, used by the harness's own clients.
        self.password = password
        self.config: dict[str, str] = dict(config or {})
        self.extra_config: list[tuple[str, str]] = list(extra_config)
        self._port = port
        self._port_fixed = port is not None
        self._tls_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin: redis.Redis | None = None

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.kind} {self.host}:{self.port} pid={self.pid}>"

    @property
    def direct_port(self) -> int:
        """The port redis-server itself listens on."""
        if self._port is None:
            raise RuntimeError(f"{self.name} has not been started yet")
        return self._port

    @property
    def port(self) -> int:
        """The port clients use: the proxy's when proxied, the TLS port with ``tls``, else ``direct_port``."""
        if self.proxy_port is not None:
            return self.proxy_port
        return self._tls_port if self.tls is not None and self._tls_port is not None else self.direct_port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` as clients reach the node."""
        return self.host, self.port

    @property
    def pid(self) -> int | None:
        """The process id, or None when the process is not running."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the process exists (even stopped by SIGSTOP)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def paused(self) -> bool:
        """True while the process is stopped by SIGSTOP."""
        return self.pid is not None and _process.process_state(self.pid) in ("T", "t")

    @property
    def log_path(self) -> Path:
        """The node's log file (redis-server's ``logfile`` plus anything it printed before opening it)."""
        return self.workdir / "redis.log"

    @property
    def config_path(self) -> Path:
        """The node's config file (Sentinels rewrite theirs)."""
        return self.workdir / "redis.conf"

    @property
    def role(self) -> NodeRole:
        """The role the node reports right now (``ROLE``): ``"master"``, ``"slave"``, ``"sentinel"``; or
        ``"down"`` when its process is not running, ``"unreachable"`` when it is paused or does not answer."""
        if not self.running:
            return "down"
        if self.paused:
            return "unreachable"
        try:
            reported = role(self.admin)
        except TRANSIENT_ERRORS:
            return "unreachable"
        return "master" if reported == "master" else "slave" if reported == "slave" else "sentinel"

    def client(self, *, socket_timeout: float | None = 5.0, decode_responses: bool = False) -> redis.Redis:
        """A new ``redis.Redis`` that reaches the node the way clients do (through its proxy if proxied)."""
        return redis.Redis(
            host=self.host,
            port=self.port,
            password=self.password,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            decode_responses=decode_responses,
            **(self.tls.redis_kwargs() if self.tls is not None else {}),  # type: ignore[arg-type]
        )

    @property
    def admin(self) -> redis.Redis:
        """The harness's own client: direct port, short timeouts, no retries, str replies."""
        if self._admin is None:
            self._admin = admin_client(self.host, self.direct_port, password=self.password)
        return self._admin

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self, *, write_config: bool = True) -> None:
        """Start the process and return once it answers (data nodes: once it has loaded its data).

        A port picked by the harness that turns out to be taken is replaced and the start retried.
        ``write_config=False`` keeps the config file from the last run (Sentinels rewrite theirs).
        """
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(_PORT_ATTEMPTS):
            if self._port is None or (attempt and not self._port_fixed):
                self._port = _process.free_port()
                self._tls_port = None
                write_config = True
            if self.tls is not None and self._tls_port is None:
                self._tls_port = _process.free_port()
            if write_config or not self.config_path.exists():
                self.config_path.write_text(self._render())
            self._launch()
            if self._wait_ready():
                self._port_fixed = True  # restarts must come back on the address the topology knows
                return
        raise StartupError(f"{self.name}: no free port after {_PORT_ATTEMPTS} attempts\n{log_tails([self])}")

    def kill(self) -> None:
        """SIGKILL the process and reap it; its port refuses connections afterwards."""
        self._close_admin()
        if self._proc is not None:
            _process.terminate(self._proc)

    def stop(self) -> None:
        """Kill the process for good: its port goes back to the pool."""
        self.kill()
        for port in (self._port, self._tls_port):
            if port is not None:
                _process.release_port(port)

    def pause(self) -> None:
        """SIGSTOP the process; returns once the kernel reports it stopped."""
        self._signal(signal.SIGSTOP)
        wait_until(lambda: self.paused, timeout=_SIGNAL_TIMEOUT, message=f"{self.name} to stop")

    def resume(self) -> None:
        """SIGCONT the process; returns once it runs again."""
        self._signal(signal.SIGCONT)
        wait_until(lambda: not self.paused, timeout=_SIGNAL_TIMEOUT, message=f"{self.name} to continue")

    def shutdown(self, *, save: bool) -> None:
        """``SHUTDOWN SAVE|NOSAVE`` and wait for the process to exit (falls back to SIGKILL)."""
        with contextlib.suppress(*TRANSIENT_ERRORS):
            command(self.admin, "SHUTDOWN", "SAVE" if save else "NOSAVE")
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=_SHUTDOWN_TIMEOUT)  # SHUTDOWN SAVE writes the whole data set
        self.kill()

    # -- internals ----------------------------------------------------------------------------------------

    def _render(self) -> str:
        head = {
            "port": str(self.direct_port),
            "bind": self.host,
            "daemonize": "no",
            "dir": quote(self.workdir),
            "logfile": quote(self.log_path),
        }
        if self.tls is not None:
            head = {**head, "tls-port": str(self._tls_port), **self.tls.server_config()}
        return render_config([*{**head, **self.config}.items(), *self.extra_config])

    def _launch(self) -> None:
        binary = _settings.redis_server_binary()
        argv = [binary, str(self.config_path)] + (["--sentinel"] if self.kind == "sentinel" else [])
        self._close_admin()
        self._proc = _process.spawn(argv, cwd=self.workdir, output=self.log_path)

    def _wait_ready(self) -> bool:
        """True once ready; False if it exited because the port was taken (and the port is ours to change)."""
        probe = admin_client(self.host, self.direct_port, timeout=PROBE_TIMEOUT, password=self.password)
        try:
            outcome = wait_until(
                lambda: self._ready_or_exited(probe),
                timeout=_settings.current().startup_timeout,
                message=f"{self.name} to accept commands on port {self.direct_port}",
                details=lambda: log_tails([self]),
                error=StartupError,
            )
        finally:
            probe.close()
        if outcome == "ready":
            return True
        if _PORT_CLASH in _tail(self.log_path) and not self._port_fixed:
            return False
        raise StartupError(f"{self.name} exited while starting\n{log_tails([self])}")

    def _ready_or_exited(self, probe: redis.Redis) -> str | None:
        if not self.running:
            return "exited"
        if self.kind == "sentinel":
            return "ready" if command(probe, "PING") else None
        return "ready" if info(probe, "persistence").get("loading") == 0 else None

    def _signal(self, signum: signal.Signals) -> None:
        if self.pid is None:
            raise RuntimeError(f"{self.name} is not running")
        os.kill(self.pid, signum)

    def _close_admin(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


def log_tails(nodes: Iterable[Node], *, lines: int = 25) -> str:
    """The last ``lines`` lines of each node's log, with a header per node."""
    return "\n".join(f"--- {n.name} ({n.log_path}) ---\n{_tail(n.log_path, lines)}" for n in nodes)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
