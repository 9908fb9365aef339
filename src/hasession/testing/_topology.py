"""What every multi-process topology shares: its folder, its nodes, its optional proxy and its teardown."""

from __future__ import annotations

import atexit
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypeVar

import redis

from ._node import Node, NodeKind, log_tails
from ._proxyctl import ProxyProcess
from ._started import Started
from ._tls import TLSFiles
from ._workdir import make_workdir, remove_workdir

__all__ = ["LocalTopology"]

TopologyT = TypeVar("TopologyT", bound="LocalTopology")


class LocalTopology(Started):
    """Base class of :class:`SentinelTopology` and :class:`ClusterTopology`: Redis processes started
    on this machine. (:data:`hasession.Topology` is something else: where a store's Redis is.)

    .. versionadded:: 0.1
    """

    _prefix = "topology"

    def __init__(
        self, *, proxied: bool = False, tmpdir: str | Path | None = None, tls: TLSFiles | None = None
    ) -> None:
        if tls is not None and proxied:
            raise ValueError("a proxied topology cannot serve TLS (the proxy would see only ciphertext)")
        self._proxied = proxied
        #: The certificates when every node serves TLS, else None.
        self.tls = tls
        self._tmpdir = tmpdir
        self._workdir: Path | None = None
        self._proxy: ProxyProcess | None = None
        self._all_nodes: list[Node] = []
        #: Seconds the last :meth:`start` took, from nothing running to ready.
        self.startup_seconds: float | None = None

    @property
    def workdir(self) -> Path:
        """The topology's temporary folder (one sub-folder per node)."""
        if self._workdir is None:
            raise RuntimeError("the topology is not started")
        return self._workdir

    def start(self: TopologyT) -> TopologyT:
        """Start every process and return once the topology is ready; returns ``self``.

        On failure everything already started is stopped and :class:`StartupError` carries the log tails.
        """
        if self._workdir is not None:
            raise RuntimeError("the topology is already started")
        began = time.monotonic()
        self._all_nodes = []
        self._workdir = make_workdir(self._prefix, self._tmpdir)
        atexit.register(self.stop)
        try:
            if self._proxied:
                self._proxy = ProxyProcess(self._workdir)
            self._build()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Kill every process, delete the folder (kept with ``--hasession-keep-logs``). Safe to call twice."""
        atexit.unregister(self.stop)
        for node in self._all_nodes:
            node.stop()
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._workdir is not None:
            remove_workdir(self._workdir)
            self._workdir = None

    def client_for(
        self, node: Node, *, socket_timeout: float | None = 5.0, decode_responses: bool = False
    ) -> redis.Redis:
        """A new ``redis.Redis`` to ``node``, reached as clients reach it (through its proxy if proxied)."""
        return node.client(socket_timeout=socket_timeout, decode_responses=decode_responses)

    def kill(self, node: Node) -> Node:
        """SIGKILL one node; returns it."""
        node.kill()
        return node

    def pause(self, node: Node) -> Node:
        """SIGSTOP one node; returns it once stopped."""
        node.pause()
        return node

    def resume(self, node: Node) -> Node:
        """SIGCONT one node; returns it once running."""
        node.resume()
        return node

    def slow_link(self, node: Node, latency: float) -> Node:
        """Delay every chunk of traffic to and from ``node`` by ``latency`` seconds through its proxy (needs
        ``proxied=True``); ``slow_link(node, 0)`` restores the normal link. Returns ``node``."""
        self._proxy_process.delay(node.name, latency)
        return node

    def log_tails(self, nodes: Iterable[Node] | None = None, *, lines: int = 25) -> str:
        """The end of each node's log (all nodes by default), for error messages and failing tests."""
        return log_tails(self._all_nodes if nodes is None else nodes, lines=lines)

    def flushall(self) -> None:
        """Delete every key on every master."""
        raise NotImplementedError

    # -- for subclasses -----------------------------------------------------------------------------------

    def _build(self) -> None:
        raise NotImplementedError

    def _add_node(self, name: str, kind: NodeKind, config: Mapping[str, str] | None = None) -> Node:
        proxy_port = self._proxy.listen(name) if self._proxy is not None else None
        node = Node(
            name=name,
            kind=kind,
            workdir=self.workdir / name,
            config=config,
            proxy_port=proxy_port,
            tls=self.tls,
        )
        self._all_nodes.append(node)
        return node

    def _start_node(self, node: Node, *, write_config: bool = True) -> None:
        node.start(write_config=write_config)
        if self._proxy is not None:
            self._proxy.target(node.name, node.direct_port)

    @property
    def _proxy_process(self) -> ProxyProcess:
        if self._proxy is None:
            raise RuntimeError("faults that cut the network need a proxied topology (proxied=True)")
        return self._proxy
