"""SentinelTopology: a master, its replicas and its Sentinels, with the faults a failover test needs."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import redis

from . import _settings
from ._errors import StartupError
from ._node import Node, data_node_defaults
from ._redisops import command, info, sentinel_master, sentinel_master_address, sentinel_peers
from ._tls import TLSFiles
from ._topology import LocalTopology
from ._wait import TRANSIENT_ERRORS, wait_until

__all__ = ["SentinelSettings", "SentinelTopology"]

#: ``SENTINEL DEBUG`` values (Redis >= 7.0) that make Sentinel notice changes in about a second instead of
#: ten: INFO every second (default 10 s) finds replicas and role changes quickly; hellos every second (default
#: 2 s) find the other Sentinels quickly and halve the 4-hello wait before a returning old master is turned
#: into a replica. Not faster: a replica that claims to be master for 4 hellos is turned back into a replica
#: by a Sentinel that has not yet heard of the failover, and with 250 ms hellos that raced (on a loaded
#: machine) with the leader's 1 s INFO noticing the promotion, reverting a good failover. A short TILT period
#: keeps one slow tick on a loaded CI machine from freezing Sentinel 30 s.
_SENTINEL_DEBUG = {"info-period": "1000", "publish-period": "1000", "tilt-period": "5000"}
_FAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SentinelSettings:
    """The settings a :class:`SentinelTopology` was created with.

    .. versionadded:: 0.1
    """

    #: Number of replicas of the master.
    replicas: int = 2
    #: Number of Sentinels.
    sentinels: int = 3
    #: ``down-after-milliseconds``: how long the master may be silent before a Sentinel suspects it.
    down_after_ms: int = 1000
    #: ``failover-timeout``; also the pause before the same Sentinel may retry a failed failover (twice this).
    failover_timeout_ms: int = 6000
    #: Sentinels that must agree the master is down; None means a majority.
    quorum: int | None = None
    #: The name the Sentinels monitor the master under.
    master_name: str = "mymaster"
    #: Reach every node only through a fault-injecting proxy, so that the network can be cut.
    proxied: bool = False
    #: redis.conf directives for the data nodes, overriding the harness defaults.
    redis_config: Mapping[str, str] = field(default_factory=dict)
    #: The certificates when every node and Sentinel serves TLS.
    tls: TLSFiles | None = None
    #: ``requirepass`` of the data nodes (Sentinels and replicas are given it too).
    password: str | None = field(default=None, repr=False)
    #: ``requirepass`` of the Sentinels (they are given it to talk to each other).
    sentinel_password: str | None = field(default=None, repr=False)

    @property
    def effective_quorum(self) -> int:
        """``quorum``, or a majority of the Sentinels."""
        return self.quorum if self.quorum is not None else self.sentinels // 2 + 1


class SentinelTopology(LocalTopology):
    """A real master, ``replicas`` replicas and ``sentinels`` Sentinels on loopback, monitoring ``mymaster``.

    Every fault method returns once the fault is in effect; every wait polls a condition with a timeout.

    :param replicas: number of replicas.
    :param sentinels: number of Sentinels.
    :param down_after_ms: Sentinel ``down-after-milliseconds``.
    :param failover_timeout_ms: Sentinel ``failover-timeout``; small, so repeated failovers work.
    :param quorum: Sentinels that must agree; default a majority.
    :param master_name: the monitored name.
    :param proxied: put a fault-injecting TCP proxy in front of every node, which :meth:`partition_master`
        needs. Nodes then announce their proxy's address, and ``node.port`` is the proxy's port.
    :param redis_config: redis.conf directives for the data nodes.
    :param tmpdir: where to create the topology's temporary folder.
    :param tls: serve TLS with these certificates (see :class:`TLSFiles`): clients, replication and the
        Sentinels' own links. The harness keeps a plain-text port on loopback for itself.
    :param password: ``requirepass`` of the data nodes.
    :param sentinel_password: ``requirepass`` of the Sentinels.

    .. versionadded:: 0.1
    """

    _prefix = "sentinel"

    def __init__(
        self,
        *,
        replicas: int = 2,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 6000,
        quorum: int | None = None,
        master_name: str = "mymaster",
        proxied: bool = False,
        redis_config: Mapping[str, str] | None = None,
        tmpdir: str | Path | None = None,
        tls: TLSFiles | None = None,
        password: str | None = None,
        sentinel_password: str | None = None,
    ) -> None:
        super().__init__(proxied=proxied, tmpdir=tmpdir, tls=tls)
        if replicas < 0 or sentinels < 1:
            raise ValueError("a Sentinel topology needs replicas >= 0 and sentinels >= 1")
        if quorum is not None and not 1 <= quorum <= sentinels:
            raise ValueError(f"quorum must be between 1 and {sentinels}")
        #: The settings this topology was created with.
        self.settings = SentinelSettings(
            replicas=replicas,
            sentinels=sentinels,
            down_after_ms=down_after_ms,
            failover_timeout_ms=failover_timeout_ms,
            quorum=quorum,
            master_name=master_name,
            proxied=proxied,
            redis_config=dict(redis_config or {}),
            tls=tls,
            password=password,
            sentinel_password=sentinel_password,
        )
        #: The data nodes; ``nodes[0]`` is the first master.
        self.nodes: list[Node] = []
        #: The Sentinels.
        self.sentinels: list[Node] = []
        self._cut: list[Node] = []
        self._paused_master: Node | None = None
        self._partitioned_master: Node | None = None

    # -- addresses ----------------------------------------------------------------------------------------

    @property
    def master_name(self) -> str:
        """The monitored name, ``mymaster`` by default."""
        return self.settings.master_name

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every Sentinel, as clients reach them."""
        return [sentinel.address for sentinel in self.sentinels]

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/mymaster/0``.

        With ``tls`` the scheme is ``rediss+sentinel`` and the query trusts the test CA; passwords are
        written in (the data nodes' before the host, the Sentinels' as ``sentinel_password``).
        """
        settings = self.settings
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinel_addresses)
        userinfo = f":{quote(settings.password, safe='')}@" if settings.password else ""
        query = [settings.tls.url_query()] if settings.tls is not None else []
        if settings.sentinel_password:
            query.append(f"sentinel_password={quote(settings.sentinel_password, safe='')}")
        scheme = "rediss+sentinel" if settings.tls is not None else "redis+sentinel"
        tail = f"?{'&'.join(query)}" if query else ""
        return f"{scheme}://{userinfo}{hosts}/{self.master_name}/0{tail}"

    def master_direct_address(self) -> tuple[str, int]:
        """The real address of the partitioned master (after :meth:`partition_master`), else of the current
        master: a client using it bypasses the proxy, like a client on the master's side of a partition."""
        node = self._partitioned_master or self.current_master()
        return node.host, node.direct_port

    # -- observation --------------------------------------------------------------------------------------

    def current_master(self, *, timeout: float = 10.0) -> Node:
        """The data node a majority of the Sentinels name as master (``get-master-addr-by-name``),
        unless that node answers ``ROLE`` as a replica.

        Waits up to ``timeout`` seconds for a majority to agree, as it may not during a failover,
        and, right after a switchover, for the Sentinels to catch up: the old master answers
        ``ROLE`` slave at once, while some Sentinels still name it for about two seconds (until
        their next hello). A named master that is down or unreachable is returned as it is.
        """

        def named() -> Node | None:
            node = self._majority_master()
            return node if node is not None and node.role != "slave" else None

        return wait_until(
            named,
            timeout=timeout,
            message="a majority of the Sentinels to agree on a master",
            details=self.log_tails,
        )

    def wait_for_new_master(self, old: Node, *, timeout: float = _FAULT_TIMEOUT) -> Node:
        """Wait until the Sentinels name a master other than ``old`` and that node answers ``ROLE`` master."""

        def promoted() -> Node | None:
            node = self._majority_master()
            return node if node is not None and node is not old and node.role == "master" else None

        return wait_until(
            promoted, timeout=timeout, message=f"a master other than {old.name}", details=self.log_tails
        )

    def wait_for_replica(self, node: Node, *, timeout: float = _FAULT_TIMEOUT) -> Node:
        """Wait until ``node`` replicates the current master with its link up, and the reachable Sentinels
        list it as a healthy replica."""
        wait_until(
            lambda: self._is_settled_replica(node),
            timeout=timeout,
            message=f"{node.name} to replicate the current master",
            details=self.log_tails,
        )
        return node

    def wait_until_healthy(self, *, timeout: float = _FAULT_TIMEOUT) -> Node:
        """Wait until a majority of the Sentinels name a master that answers ``ROLE`` master, and every other
        data node replicates it with its link up and is listed by the reachable Sentinels as a healthy
        replica; returns the master. Every data node must be running (restart the killed ones first)."""

        def healthy() -> Node | None:
            master = self._majority_master()
            if master is None or master.role != "master":
                return None
            others = [node for node in self.nodes if node is not master]
            return master if all(self._is_settled_replica(node) for node in others) else None

        return wait_until(
            healthy, timeout=timeout, message="the topology to be healthy", details=self.log_tails
        )

    def wait_for_replicas_synced(self, *, timeout: float = 10.0) -> None:
        """Wait until every reachable replica replicates the current master, with its link up, and has
        processed every write the master had taken when the wait began."""
        master = self.current_master(timeout=timeout)
        replicas = [n for n in self.nodes if n is not master and self._reachable(n)]
        offset = _master_offset(master)
        wait_until(
            lambda: _replicas_synced(master, replicas, offset),
            timeout=timeout,
            message="the replicas to be in sync",
            details=self.log_tails,
        )

    def flushall(self) -> None:
        """Delete every key (``FLUSHALL`` on the current master; replicas follow)."""
        command(self.current_master().admin, "FLUSHALL")

    # -- faults -------------------------------------------------------------------------------------------

    def kill_master(self) -> Node:
        """SIGKILL the current master; returns it (its port now refuses connections)."""
        return self.kill(self.current_master())

    def pause_master(self) -> Node:
        """SIGSTOP the current master (open connections hang); returns it."""
        self._paused_master = self.pause(self.current_master())
        return self._paused_master

    def resume_master(self) -> Node:
        """SIGCONT the master that :meth:`pause_master` stopped; returns it."""
        if self._paused_master is None:
            raise RuntimeError("no master was paused")
        node, self._paused_master = self._paused_master, None
        return self.resume(node)

    def failover(self, *, timeout: float = _FAULT_TIMEOUT) -> Node:
        """``SENTINEL FAILOVER``: force a failover and return the new master once it answers as master."""
        old = self.current_master()
        wait_until(self._request_failover, timeout=10.0, message="a Sentinel to accept SENTINEL FAILOVER")
        return self.wait_for_new_master(old, timeout=timeout)

    def kill_sentinel(self, index: int) -> Node:
        """SIGKILL Sentinel ``index``; returns it."""
        return self.kill(self.sentinels[index])

    def restart_sentinel(self, index: int) -> Node:
        """(Re)start Sentinel ``index`` from its own rewritten config; returns once it names the master."""
        sentinel = self.sentinels[index]
        sentinel.kill()
        self._start_node(sentinel, write_config=False)
        self._tune(sentinel)
        wait_until(
            lambda: (
                sentinel_master_address(sentinel.admin, self.master_name) == self.current_master().address
            ),
            timeout=_FAULT_TIMEOUT,
            message=f"{sentinel.name} to agree on the master",
            details=lambda: self.log_tails([sentinel]),
        )
        return sentinel

    def restart(self, node: Node) -> Node:
        """Restart a (killed) node on its port and return once it is back in the topology.

        A data node comes back as a replica of the current master (it is started with ``replicaof`` so it need
        not wait for Sentinel to reconfigure it). If the Sentinels still name it master, because no failover
        happened yet, it comes back as an empty master, as a real restart without persistence would.
        """
        if node.kind == "sentinel":
            return self.restart_sentinel(self.sentinels.index(node))
        node.kill()
        master = self.current_master()
        node.extra_config = [] if master is node else [("replicaof", f"{master.host} {master.port}")]
        self._start_node(node)
        if master is node:
            return node
        return self.wait_for_replica(node)

    def partition(self, node: Node) -> Node:
        """Cut ``node`` off the network (needs ``proxied=True``): its proxy accepts connections but forwards
        no byte, on new and existing connections alike. Clients using ``node.direct_port`` still reach it."""
        self._proxy_process.cut(node.name)
        self._cut.append(node)
        return node

    def partition_master(self) -> Node:
        """Cut the current master off the Sentinels, the replicas and the clients; returns it."""
        self._partitioned_master = self.partition(self.current_master())
        return self._partitioned_master

    def heal(self) -> None:
        """End every partition: connections that crossed it are closed, new ones are forwarded again."""
        for node in self._cut:
            self._proxy_process.heal(node.name)
        self._cut.clear()
        self._partitioned_master = None

    # -- building -----------------------------------------------------------------------------------------

    def _build(self) -> None:
        settings = self.settings
        self.nodes = [self._add_data_node(f"redis-{i}") for i in range(settings.replicas + 1)]
        self.sentinels = [self._add_node(f"sentinel-{i}", "sentinel") for i in range(settings.sentinels)]
        for sentinel in self.sentinels:
            sentinel.password = settings.sentinel_password
            if settings.sentinel_password:
                sentinel.config["requirepass"] = settings.sentinel_password
        master, *replicas = self.nodes
        self._start_node(master)
        for replica in replicas:
            replica.extra_config = [("replicaof", f"{master.host} {master.port}")]
            self._start_node(replica)
        ids = [secrets.token_hex(20) for _ in self.sentinels]
        for sentinel, myid in zip(self.sentinels, ids, strict=True):
            sentinel.extra_config = self._sentinel_config(sentinel, myid, master)
            self._start_node(sentinel)
            self._tune(sentinel)
        wait_until(
            self._is_ready,
            timeout=_settings.current().startup_timeout,
            message="the Sentinel topology to be ready",
            details=self.log_tails,
            error=StartupError,
        )

    def _add_data_node(self, name: str) -> Node:
        node = self._add_node(name, "data")
        announce = {} if node.proxy_port is None else _announce_replica(node.proxy_port)
        password = self.settings.password
        auth = {"requirepass": password, "masterauth": password} if password else {}
        node.config = {**data_node_defaults(), **announce, **auth, **self.settings.redis_config}
        node.password = password
        return node

    def _sentinel_config(self, sentinel: Node, myid: str, master: Node) -> list[tuple[str, str]]:
        name, settings = self.master_name, self.settings
        lines = [
            ("sentinel myid", myid),
            ("sentinel monitor", f"{name} {master.host} {master.port} {settings.effective_quorum}"),
            ("sentinel down-after-milliseconds", f"{name} {settings.down_after_ms}"),
            ("sentinel failover-timeout", f"{name} {settings.failover_timeout_ms}"),
            ("sentinel parallel-syncs", f"{name} {max(settings.replicas, 1)}"),
        ]
        if settings.password:
            lines.append(("sentinel auth-pass", f"{name} {settings.password}"))
        if settings.sentinel_password:
            lines.append(("sentinel sentinel-pass", settings.sentinel_password))
        if sentinel.proxy_port is not None:
            lines += [
                ("sentinel announce-ip", sentinel.host),
                ("sentinel announce-port", str(sentinel.proxy_port)),
            ]
        return lines

    def _tune(self, sentinel: Node) -> None:
        if _settings.redis_version() >= (7, 0):
            args = [word for item in _SENTINEL_DEBUG.items() for word in item]
            command(sentinel.admin, "SENTINEL", "DEBUG", *args)

    # -- conditions ---------------------------------------------------------------------------------------

    def _is_ready(self) -> bool:
        master, *replicas = self.nodes
        return _replicas_synced(master, replicas, 0) and all(
            self._sentinel_ready(sentinel, master) for sentinel in self.sentinels
        )

    def _sentinel_ready(self, sentinel: Node, master: Node) -> bool:
        name = self.master_name
        state = sentinel_master(sentinel.admin, name)
        if (state["flags"], state["ip"], int(state["port"])) != ("master", *master.address):
            return False
        if int(state["num-slaves"]) != len(self.nodes) - 1:
            return False
        if int(state["num-other-sentinels"]) != len(self.sentinels) - 1:
            return False
        replicas = sentinel_peers(sentinel.admin, "REPLICAS", name)
        peers = sentinel_peers(sentinel.admin, "SENTINELS", name)
        return all(r["flags"] == "slave" and r["master-link-status"] == "ok" for r in replicas) and all(
            p["flags"] == "sentinel" for p in peers
        )

    def _is_settled_replica(self, node: Node) -> bool:
        master = self._majority_master()
        if master is None or master is node or not _replicates(node, master):
            return False
        for sentinel in filter(self._reachable, self.sentinels):
            known = sentinel_peers(sentinel.admin, "REPLICAS", self.master_name)
            entry = next((r for r in known if (r["ip"], int(r["port"])) == node.address), None)
            if entry is None or entry["flags"] != "slave":
                return False
        return True

    def _majority_master(self) -> Node | None:
        votes: Counter[tuple[str, int]] = Counter()
        for sentinel in filter(self._reachable, self.sentinels):
            try:
                address = sentinel_master_address(sentinel.admin, self.master_name)
            except TRANSIENT_ERRORS:
                continue
            if address is not None:
                votes[address] += 1
        if not votes:
            return None
        address, count = votes.most_common(1)[0]
        if count <= len(self.sentinels) // 2:
            return None
        return next((n for n in self.nodes if n.address == address), None)

    def _request_failover(self) -> bool:
        for sentinel in filter(self._reachable, self.sentinels):
            try:
                command(sentinel.admin, "SENTINEL", "FAILOVER", self.master_name)
            except redis.ResponseError:  # INPROG or NOGOODSLAVE: another Sentinel may do, or try again soon
                continue
            return True
        return False

    def _reachable(self, node: Node) -> bool:
        return node.running and not node.paused and node not in self._cut


def _announce_replica(proxy_port: int) -> dict[str, str]:
    return {"replica-announce-ip": "127.0.0.1", "replica-announce-port": str(proxy_port)}


def _master_offset(master: Node) -> int:
    return int(str(info(master.admin, "replication")["master_repl_offset"]))


def _replicates(replica: Node, master: Node, offset: int = 0) -> bool:
    """``replica`` follows ``master`` with its link up and has processed the stream up to ``offset``."""
    state = info(replica.admin, "replication")
    return (
        state.get("role") == "slave"
        and (state.get("master_host"), state.get("master_port")) == master.address
        and state.get("master_link_status") == "up"
        and int(str(state.get("slave_repl_offset", -1))) >= offset
    )


def _replicas_synced(master: Node, replicas: list[Node], offset: int) -> bool:
    """Each replica is caught up to ``offset`` and the master streams to it (state ``online``)."""
    online = {
        (entry["ip"], entry["port"])
        for key, entry in info(master.admin, "replication").items()
        if key.startswith("slave") and isinstance(entry, dict) and entry.get("state") == "online"
    }
    return all(replica.address in online and _replicates(replica, master, offset) for replica in replicas)
