"""ClusterTopology: a real Redis Cluster built with cluster commands, with failovers and resharding."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from redis.cluster import RedisCluster
from redis.crc import key_slot

from . import _settings
from ._errors import StartupError
from ._node import Node, data_node_defaults
from ._redisops import command, info
from ._tls import TLSFiles
from ._topology import LocalTopology
from ._wait import TRANSIENT_ERRORS, wait_until

__all__ = ["SLOTS", "ClusterEntry", "ClusterTopology", "parse_cluster_nodes"]

#: Number of hash slots in a Redis Cluster.
SLOTS = 16384
#: The key whose slot picks the primary when a fault method is given none.
DEFAULT_KEY = "probe"
_FAULT_TIMEOUT = 30.0
_MIGRATE_BATCH = 100
_BAD_FLAGS = frozenset({"fail", "fail?", "handshake", "noaddr"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterEntry:
    """One line of ``CLUSTER NODES``: how one node sees another."""

    id: str
    address: tuple[str, int]
    flags: frozenset[str]
    master_id: str | None
    connected: bool
    slots: tuple[tuple[int, int], ...]

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags

    @property
    def healthy(self) -> bool:
        return self.connected and not self.flags & _BAD_FLAGS

    def owns(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)


def parse_cluster_nodes(text: str) -> list[ClusterEntry]:
    """Parse the text of ``CLUSTER NODES`` (migration markers such as ``[5->-id]`` are skipped)."""
    return [_parse_line(line.split()) for line in text.splitlines() if line.strip()]


def _parse_line(words: list[str]) -> ClusterEntry:
    node_id, address, flags, master, _ping, _pong, _epoch, link, *slots = words
    host, _, port = address.partition("@")[0].split(",")[0].rpartition(":")
    return ClusterEntry(
        id=node_id,
        address=(host, int(port)),
        flags=frozenset(flags.split(",")) - {"myself"},
        master_id=None if master == "-" else master,
        connected=link == "connected",
        slots=tuple(_slot_range(item) for item in slots if not item.startswith("[")),
    )


def _slot_range(item: str) -> tuple[int, int]:
    first, _, last = item.partition("-")
    return int(first), int(last or first)


class ClusterTopology(LocalTopology):
    """A real Redis Cluster (``cluster-enabled yes``) of ``primaries`` primaries with ``replicas_per_primary``
    replicas each, built with ``CLUSTER ADDSLOTSRANGE``, ``MEET`` and ``REPLICATE`` (no redis-cli).

    :param primaries: number of primaries; the 16384 slots are split evenly between them.
    :param replicas_per_primary: replicas of each primary.
    :param node_timeout_ms: ``cluster-node-timeout``: how long a primary may be silent before it is failed
        over.
    :param redis_config: redis.conf directives for every node.
    :param proxied: put a fault-injecting TCP proxy in front of every node's client port and bus port, which
        :meth:`partition` needs (Redis >= 7.0). Nodes then announce their proxies' addresses, and each node
        opens its own connections from a loopback address of its own (``bind-source-addr``), so that a
        partition cuts its traffic both ways.
    :param tmpdir: where to create the topology's temporary folder.
    :param tls: serve TLS with these certificates (see :class:`TLSFiles`), the cluster bus included;
        ``url`` becomes ``rediss+cluster://`` and trusts the test CA.

    .. versionadded:: 0.1
    """

    _prefix = "cluster"

    def __init__(
        self,
        *,
        primaries: int = 3,
        replicas_per_primary: int = 1,
        node_timeout_ms: int = 1000,
        redis_config: Mapping[str, str] | None = None,
        proxied: bool = False,
        tmpdir: str | Path | None = None,
        tls: TLSFiles | None = None,
    ) -> None:
        super().__init__(proxied=proxied, tmpdir=tmpdir, tls=tls)
        if primaries < 1 or replicas_per_primary < 0:
            raise ValueError("a cluster needs primaries >= 1 and replicas_per_primary >= 0")
        self._primaries = primaries
        self._replicas_per_primary = replicas_per_primary
        self._config = {
            **data_node_defaults(),
            "cluster-enabled": "yes",
            "cluster-config-file": "nodes.conf",
            "cluster-node-timeout": str(node_timeout_ms),
            **({"tls-cluster": "yes"} if tls is not None else {}),
            **(redis_config or {}),
        }
        #: Every node; the first ``primaries`` were the primaries when the cluster was built.
        self.nodes: list[Node] = []
        self._ids: dict[str, Node] = {}
        self._known_slots: dict[str, tuple[tuple[int, int], ...]] = {}
        self._migrations: dict[int, tuple[Node, Node]] = {}
        self._bus_ports: dict[str, int] = {}
        self._sources: dict[str, str] = {}
        self._cut: list[Node] = []

    # -- addresses and clients ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...`` listing every node."""
        hosts = ",".join(f"{n.host}:{n.port}" for n in self.nodes)
        if self.tls is None:
            return f"redis+cluster://{hosts}"
        return f"rediss+cluster://{hosts}?{self.tls.url_query()}"

    def client(self, *, socket_timeout: float | None = 5.0, decode_responses: bool = False) -> RedisCluster:
        """A new ``redis.cluster.RedisCluster``; it discovers the cluster from the first running node."""
        first = next(node for node in self.nodes if node.running)
        return RedisCluster(
            host=first.host,
            port=first.port,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            decode_responses=decode_responses,
            **(self.tls.redis_kwargs() if self.tls is not None else {}),  # type: ignore[arg-type]
        )

    def node_id(self, node: Node) -> str:
        """The node's cluster id (``CLUSTER MYID``)."""
        return next(node_id for node_id, known in self._ids.items() if known is node)

    # -- observation --------------------------------------------------------------------------------------

    def current_master(self, key: str | None = None, *, timeout: float = 10.0) -> Node:
        """The primary that owns ``key``'s slot (default key: ``"probe"``), once every reachable node agrees
        and that node answers ``ROLE`` master."""
        return self.slot_owner(key_slot((key or DEFAULT_KEY).encode()), timeout=timeout)

    def slot_owner(self, slot: int, *, timeout: float = 10.0) -> Node:
        """The primary that owns ``slot``, once every reachable node agrees and it answers ``ROLE`` master."""
        return wait_until(
            lambda: self._agreed_owner(slot),
            timeout=timeout,
            message=f"the nodes to agree on the owner of slot {slot}",
            details=self.log_tails,
        )

    def primaries(self) -> list[Node]:
        """The nodes that answer ``ROLE`` master right now."""
        return [node for node in self.nodes if node.role == "master"]

    def replicas_of(self, primary: Node) -> list[Node]:
        """The nodes that replicate ``primary``, as ``primary`` itself sees the cluster."""
        primary_id = self.node_id(primary)
        return [
            self._ids[e.id] for e in self._view(primary) if e.master_id == primary_id and e.id in self._ids
        ]

    def wait_for_new_master(self, old: Node, *, timeout: float = _FAULT_TIMEOUT) -> Node:
        """Wait until a node other than ``old`` owns ``old``'s slots, answers ``ROLE`` master, and every
        reachable node reports ``cluster_state:ok``; return it."""
        if old.running and not old.paused:
            self._remember_slots(old)
        slot = self._known_slots[self.node_id(old)][0][0]

        def promoted() -> Node | None:
            owner = self._agreed_owner(slot)
            return owner if owner is not None and owner is not old and self._all_ok() else None

        return wait_until(
            promoted, timeout=timeout, message=f"a new owner of {old.name}'s slots", details=self.log_tails
        )

    def wait_until_healthy(self, *, timeout: float = _FAULT_TIMEOUT) -> None:
        """Wait until every running node reports ``cluster_state:ok``, sees no node failing, and every
        running replica has its replication link up."""
        wait_until(
            self._healthy, timeout=timeout, message="the cluster to be healthy", details=self.log_tails
        )

    # -- faults -------------------------------------------------------------------------------------------

    def kill_master(self, slot_or_node: int | Node | None = None) -> Node:
        """SIGKILL a primary: the given node, the owner of the given slot, or by default the owner of the
        slot of key ``"probe"``. Returns it; :meth:`wait_for_new_master` then waits for its replica."""
        if isinstance(slot_or_node, Node):
            primary = slot_or_node
        elif isinstance(slot_or_node, int):
            primary = self.slot_owner(slot_or_node)
        else:
            primary = self.current_master()
        self._remember_slots(primary)
        return self.kill(primary)

    def failover(self, node: Node | None = None, *, timeout: float = _FAULT_TIMEOUT) -> Node:
        """``CLUSTER FAILOVER``: promote ``node`` if it is a replica, else a replica of ``node`` (default: the
        primary of key ``"probe"``). Returns the new primary once the cluster agrees and is healthy again."""
        node = node or self.current_master()
        if node.role == "master":
            old = node
            candidates = [r for r in self.replicas_of(old) if r.running and not r.paused]
            if not candidates:
                raise ValueError(f"{old.name} has no running replica to fail over to")
            replica = candidates[0]
        else:
            replica, old = node, self._primary_of(node)
        self._remember_slots(old)
        command(replica.admin, "CLUSTER", "FAILOVER")
        return self.wait_for_new_master(old, timeout=timeout)

    def restart(self, node: Node, *, timeout: float = _FAULT_TIMEOUT) -> Node:
        """Restart a (killed) node on its port with its ``nodes.conf``. Returns once the cluster is healthy:
        a primary that was failed over meanwhile comes back as a replica of its successor."""
        node.kill()
        node.start()
        self.wait_until_healthy(timeout=timeout)
        return node

    def migrate_slot(self, slot: int, to_node: Node) -> None:
        """Move ``slot`` and its keys to the primary ``to_node``, the way resharding does."""
        self.begin_migration(slot, to_node)
        self.finish_migration(slot)

    def begin_migration(self, slot: int, to_node: Node, *, keys: list[str] | None = None) -> None:
        """Start moving ``slot`` to ``to_node``: mark it IMPORTING there and MIGRATING on its owner, then
        ``MIGRATE`` ``keys`` (default: every key in the slot). The owner now answers ``-ASK`` for keys it no
        longer holds; :meth:`finish_migration` completes the move."""
        source = self.slot_owner(slot)
        if source is to_node:
            raise ValueError(f"{to_node.name} already owns slot {slot}")
        command(to_node.admin, "CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source))
        command(source.admin, "CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(to_node))
        self._migrations[slot] = (source, to_node)
        if keys is None:
            _move_slot_keys(source, to_node, slot)
        else:
            _migrate(source, to_node, keys)

    def finish_migration(self, slot: int) -> None:
        """Move the slot's remaining keys and give the slot to the target on every primary; returns once
        every reachable node agrees on the new owner (clients then get ``-MOVED``)."""
        source, target = self._migrations.pop(slot)
        _move_slot_keys(source, target, slot)
        target_id = self.node_id(target)
        others = [n for n in self.primaries() if n not in (source, target)]
        for node in (target, source, *others):
            command(node.admin, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
        wait_until(
            lambda: self._agreed_owner(slot) is target,
            timeout=_FAULT_TIMEOUT,
            message=f"every node to see {target.name} own slot {slot}",
            details=self.log_tails,
        )

    def partition(self, node: Node) -> Node:
        """Cut ``node`` off every other node and every client, both ways (needs ``proxied=True``): its proxies
        forward no byte, and the other nodes' proxies forward nothing that ``node`` sends. A primary cut off
        the majority stops serving (``CLUSTERDOWN``) after ``node_timeout_ms`` and its replica takes over."""
        proxy = self._proxy_process
        for name in (node.name, f"{node.name}-bus"):
            proxy.cut(name)
        source = self._sources[node.name]
        for other in self.nodes:
            if other is not node:
                for name in (other.name, f"{other.name}-bus"):
                    proxy.isolate(name, source)
        self._cut.append(node)
        return node

    def heal(self) -> None:
        """End every partition: the connections that crossed it are closed, new ones are forwarded again."""
        if self._cut:
            for node in self.nodes:
                for name in (node.name, f"{node.name}-bus"):
                    self._proxy_process.heal(name)
        self._cut.clear()

    def flushall(self) -> None:
        """Delete every key on every primary."""
        for node in self.primaries():
            command(node.admin, "FLUSHALL")

    # -- building -----------------------------------------------------------------------------------------

    def _build(self) -> None:
        total = self._primaries * (1 + self._replicas_per_primary)
        self.nodes = [self._add_node(f"node-{i}", "data", self._config) for i in range(total)]
        if self._proxy is not None:
            self._announce_proxies()
        for node in self.nodes:
            self._start_node(node)
        self._ids = {str(command(node.admin, "CLUSTER", "MYID")): node for node in self.nodes}
        primaries = self.nodes[: self._primaries]
        for epoch, node in enumerate(self.nodes, start=1):
            command(node.admin, "CLUSTER", "SET-CONFIG-EPOCH", epoch)
        for node, (first, last) in zip(primaries, _split_slots(self._primaries), strict=True):
            _add_slots(node, first, last)
            self._known_slots[self.node_id(node)] = ((first, last),)
        for i, node in enumerate(self.nodes):
            for peer in self.nodes[i + 1 :]:
                bus = [self._bus_ports[peer.name]] if peer.name in self._bus_ports else []
                command(node.admin, "CLUSTER", "MEET", peer.host, peer.port, *bus)
        wait_until(
            self._all_met,
            timeout=_settings.current().startup_timeout,
            message="every node to meet",
            details=self.log_tails,
            error=StartupError,
        )
        for index, replica in enumerate(self.nodes[self._primaries :]):
            primary = primaries[index % self._primaries]
            command(replica.admin, "CLUSTER", "REPLICATE", self.node_id(primary))
        wait_until(
            self._healthy,
            timeout=_settings.current().startup_timeout,
            message="the cluster to be ready",
            details=self.log_tails,
            error=StartupError,
        )

    def _announce_proxies(self) -> None:
        if _settings.redis_version() < (7, 0):
            raise StartupError("a proxied cluster needs Redis >= 7.0 (bind-source-addr)")
        for index, node in enumerate(self.nodes):
            bus = self._bus_ports[node.name] = self._proxy_process.listen(f"{node.name}-bus")
            source = self._sources[node.name] = f"127.0.0.{index + 2}"
            node.config.update(
                {
                    "cluster-announce-ip": node.host,
                    "cluster-announce-port": str(node.port),
                    "cluster-announce-bus-port": str(bus),
                    "bind-source-addr": source,
                }
            )

    def _start_node(self, node: Node, *, write_config: bool = True) -> None:
        super()._start_node(node, write_config=write_config)
        if node.name in self._bus_ports:
            self._proxy_process.target(f"{node.name}-bus", node.direct_port + 10000)

    # -- conditions ---------------------------------------------------------------------------------------

    def _view(self, node: Node) -> list[ClusterEntry]:
        return parse_cluster_nodes(str(command(node.admin, "CLUSTER", "NODES")))

    def _reachable(self) -> Iterator[Node]:
        return (node for node in self.nodes if node.running and not node.paused and node not in self._cut)

    def _all_met(self) -> bool:
        return all(
            len(view) == len(self.nodes) and all("handshake" not in e.flags for e in view)
            for view in map(self._view, self._reachable())
        )

    def _all_ok(self) -> bool:
        return all(_cluster_info(node).get("cluster_state") == "ok" for node in self._reachable())

    def _healthy(self) -> bool:
        running_ids = {node_id for node_id, node in self._ids.items() if node.running}
        return all(self._node_healthy(node, running_ids) for node in self._reachable())

    def _node_healthy(self, node: Node, running_ids: set[str]) -> bool:
        """``node`` sees the cluster ok with every slot served and every running node healthy; a replica
        also has its link to its primary up."""
        state = _cluster_info(node)
        if (state.get("cluster_state"), state.get("cluster_slots_ok")) != ("ok", str(SLOTS)):
            return False
        view = [e for e in self._view(node) if e.id in running_ids]
        if len(view) != len(running_ids) or not all(e.healthy for e in view):
            return False
        replication = info(node.admin, "replication")
        return replication.get("role") == "master" or replication.get("master_link_status") == "up"

    def _agreed_owner(self, slot: int) -> Node | None:
        owners = set()
        for node in self._reachable():
            try:
                view = self._view(node)
            except TRANSIENT_ERRORS:
                continue
            owners.add(next((e.id for e in view if e.is_primary and e.owns(slot)), None))
        if len(owners) != 1 or None in owners:
            return None
        owner = self._ids.get(owners.pop() or "")
        return owner if owner is not None and owner.role == "master" else None

    def _primary_of(self, replica: Node) -> Node:
        master_id = next(e.master_id for e in self._view(replica) if self._ids.get(e.id) is replica)
        return self._ids[master_id or ""]

    def _remember_slots(self, primary: Node) -> None:
        node_id = self.node_id(primary)
        slots = next((e.slots for e in self._view(primary) if e.id == node_id), ())
        if slots:
            self._known_slots[node_id] = slots


def _split_slots(parts: int) -> list[tuple[int, int]]:
    bounds = [SLOTS * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(parts)]


def _add_slots(node: Node, first: int, last: int) -> None:
    if _settings.redis_version() >= (7, 0):
        command(node.admin, "CLUSTER", "ADDSLOTSRANGE", first, last)
    else:
        command(node.admin, "CLUSTER", "ADDSLOTS", *range(first, last + 1))


def _cluster_info(node: Node) -> dict[str, str]:
    text = str(command(node.admin, "CLUSTER", "INFO"))
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _move_slot_keys(source: Node, target: Node, slot: int) -> None:
    """MIGRATE every key of ``slot`` from ``source`` to ``target``, a batch at a time."""
    while True:
        keys = command(source.admin, "CLUSTER", "GETKEYSINSLOT", slot, _MIGRATE_BATCH)
        if not isinstance(keys, list) or not keys:
            return
        _migrate(source, target, [str(key) for key in keys])


def _migrate(source: Node, target: Node, keys: list[str]) -> None:
    for start in range(0, len(keys), _MIGRATE_BATCH):
        batch = keys[start : start + _MIGRATE_BATCH]
        command(source.admin, "MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *batch)
