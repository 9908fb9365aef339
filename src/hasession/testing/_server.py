"""RedisServer: one standalone redis-server on a free loopback port."""

from __future__ import annotations

import atexit
import shutil
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

import redis

from ._node import Node, data_node_defaults
from ._started import Started
from ._tls import TLSFiles
from ._workdir import make_workdir, remove_workdir

__all__ = ["RedisServer"]


class RedisServer(Started):
    """A real standalone ``redis-server`` in a temporary folder, for tests.

    Use it as a context manager (``with RedisServer() as srv: ...``) or call :meth:`start` and :meth:`stop`.

    :param port: the port to listen on; by default a free loopback port (never 6379).
    :param config: redis.conf directives that override the harness defaults, as in ``{"appendonly": "yes"}``.
        An empty value is written as ``""``.
    :param tmpdir: where to create the server's temporary folder (default: the system temp folder).
    :param tls: serve TLS on ``port`` with these certificates (see :class:`TLSFiles`); ``url`` becomes
        ``rediss://`` and trusts the test CA. The harness keeps a plain-text port for itself.
    :param password: ``requirepass``; ``url`` includes it.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        config: Mapping[str, str] | None = None,
        tmpdir: str | Path | None = None,
        tls: TLSFiles | None = None,
        password: str | None = None,
    ) -> None:
        self._port = port
        #: The certificates when the server serves TLS, else None.
        self.tls = tls
        self._password = password
        auth = {"requirepass": password} if password else {}
        self._config = {**data_node_defaults(), **auth, **(config or {})}
        self._tmpdir = tmpdir
        self._workdir: Path | None = None
        self._node: Node | None = None

    def __repr__(self) -> str:
        return f"<RedisServer {self.url if self._node and self._node.running else 'stopped'}>"

    @property
    def node(self) -> Node:
        """The process handle (pid, log path, role)."""
        if self._node is None:
            raise RuntimeError("the server has not been started")
        return self._node

    @property
    def host(self) -> str:
        """Always ``127.0.0.1``."""
        return self.node.host

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self.node.port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``, or ``rediss://...?ssl_ca_certs=...`` with ``tls``; password in."""
        userinfo = f":{quote(self._password, safe='')}@" if self._password else ""
        if self.tls is None:
            return f"redis://{userinfo}{self.host}:{self.port}/0"
        return f"rediss://{userinfo}{self.host}:{self.port}/0?{self.tls.url_query()}"

    @property
    def pid(self) -> int | None:
        """The process id, or None while the server is not running."""
        return self.node.pid

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.node.log_path

    def client(self, *, socket_timeout: float | None = 5.0, decode_responses: bool = False) -> redis.Redis:
        """A new ``redis.Redis`` connected to the server."""
        return self.node.client(socket_timeout=socket_timeout, decode_responses=decode_responses)

    def start(self) -> RedisServer:
        """Start the server and return once it answers; returns ``self``."""
        if self._node is not None:
            raise RuntimeError("the server is already started")
        self._workdir = make_workdir("redis", self._tmpdir)
        atexit.register(self.stop)
        self._node = Node(
            name="redis",
            kind="data",
            workdir=self._workdir,
            config=self._config,
            port=self._port,
            tls=self.tls,
            password=self._password,
        )
        try:
            self._node.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill the server and delete its folder (kept with ``--hasession-keep-logs``). Safe to call twice."""
        atexit.unregister(self.stop)
        if self._node is not None:
            self._node.stop()
            self._node = None
        if self._workdir is not None:
            remove_workdir(self._workdir)
            self._workdir = None

    def kill(self) -> None:
        """SIGKILL the server; its port refuses connections until :meth:`restart`."""
        self.node.kill()

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open but nothing answers until :meth:`resume`."""
        self.node.pause()

    def resume(self) -> None:
        """SIGCONT a paused server."""
        self.node.resume()

    def restart(self, *, empty: bool = False) -> None:
        """Restart on the same port.

        With ``empty=False`` a running server is shut down with ``SHUTDOWN SAVE`` so it comes back with its
        data; a killed one comes back with whatever it had saved. With ``empty=True`` the data files are
        deleted first, which is how "Redis restarted without persistence" looks to a client.
        """
        node = self.node
        if node.paused:
            node.resume()
        if node.running:
            node.shutdown(save=not empty)
        if empty:
            _delete_data_files(node.workdir)
        node.start()


def _delete_data_files(workdir: Path) -> None:
    for path in workdir.glob("*.rdb"):
        path.unlink()
    shutil.rmtree(workdir / "appendonlydir", ignore_errors=True)
    for path in workdir.glob("*.aof"):
        path.unlink()
