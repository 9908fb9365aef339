"""Carrying out a chaos schedule's faults on a real topology, one lane per thread.

Every fault returns once the topology is whole again: one master (per shard) that the Sentinels (or the
cluster) agree on, every other data node a replica with its link up. That moment is the fault's ``end`` in
the history.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from redis.crc import key_slot

from .._sync.store import SessionStore
from ._chaos_history import FaultRecord, History
from ._chaos_schedule import FaultEvent
from ._chaos_users import Crowd
from ._cluster import ClusterTopology
from ._node import Node
from ._sentinel import SentinelTopology

__all__ = ["FAULT_LIMIT", "HUNG", "ClusterFaults", "Faults", "SentinelFaults", "run_lane"]

_SETTLE_TIMEOUT = 60.0
#: Seconds a fault may run beyond its duration before it is reported as hung.
FAULT_LIMIT = 90.0
#: The start of the note of a fault that did not return.
HUNG = "hung: did not return in"


class Faults:
    """What both topologies' fault runners share: a stop flag that ends their waits early."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def run(self, event: FaultEvent) -> str:
        """Carry out ``event``; return what it acted on."""
        raise NotImplementedError

    def settle(self) -> None:
        """Return once the topology is whole again."""
        raise NotImplementedError

    def hold(self, seconds: float) -> None:
        self.stop.wait(seconds)


def pick(candidates: Sequence[Node], fraction: float) -> Node:
    """The candidate that ``fraction`` (in [0, 1)) picks, in name order."""
    ordered = sorted(candidates, key=lambda node: node.name)
    if not ordered:
        raise RuntimeError("no node to act on")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_lane(
    events: Sequence[FaultEvent], faults: Faults, history: History, started: float, log: Callable[[str], None]
) -> None:
    """Carry out ``events`` in order, each at its time or once the previous one ended."""
    for event in events:
        delay = started + event.at - time.monotonic()
        if delay > 0 and faults.stop.wait(delay):
            return
        if faults.stop.is_set():
            return
        begin = time.monotonic()
        target, note = _run_guarded(faults, event)
        if event.lane == "data":
            try:
                faults.settle()
            except Exception as exc:
                note = (note + "; " if note else "") + f"did not settle: {_first_line(exc)}"
        record = FaultRecord(event=event, start=begin, end=time.monotonic(), target=target, note=note)
        history.fault(record)
        took = record.end - record.start
        suffix = f" [{note}]" if note else ""
        log(f"  {begin - started:6.1f}s {event.kind} on {target or '?'} ({took:.1f}s){suffix}")


def _run_guarded(faults: Faults, event: FaultEvent) -> tuple[str, str]:
    """Run one fault in a thread of its own: ``(target, note)``. A fault still running ``FAULT_LIMIT``
    seconds after its own duration is left behind (it is a daemon thread) with a note starting with
    :data:`HUNG`; every harness wait has a timeout far below that, so what hangs is the store."""
    outcome: list[tuple[str, str]] = []

    def work() -> None:
        try:
            outcome.append((faults.run(event), ""))
        except Exception as exc:  # the fault could not be carried out: recorded, the campaign goes on
            outcome.append(("", f"fault failed: {_first_line(exc)}"))

    worker = threading.Thread(target=work, name=f"chaos-{event.kind}", daemon=True)
    worker.start()
    limit = event.duration + FAULT_LIMIT
    worker.join(limit)
    if not outcome:
        return "", f"{HUNG} {limit:.0f}s"
    return outcome[0]


class SentinelFaults(Faults):
    """The faults of a proxied :class:`SentinelTopology`."""

    def __init__(self, topology: SentinelTopology, crowd: Crowd, stop: threading.Event):
        super().__init__(stop)
        self.topology, self.crowd = topology, crowd

    def run(self, event: FaultEvent) -> str:
        topology = self.topology
        match event.kind:
            case "kill":
                old = topology.kill_master()
                topology.wait_for_new_master(old)
                topology.restart(old)
                return old.name
            case "pause-short" | "pause-long":
                old = topology.pause_master()
                self.hold(event.duration)
                topology.resume_master()
                return old.name
            case "sentinel-failover":
                old = topology.current_master()
                topology.failover()
                return old.name
            case "switchover":
                # a store of its own, as an operator's `hasession switchover` is a process of its own
                with SessionStore.from_url(topology.url, **self.crowd.options) as admin:
                    result = admin.switchover(timeout=10.0)
                return f"{result.old}->{result.new}"
            case "partition":
                return self._partition(event)
            case "restart-replica" | "restart-replica-empty":
                node = pick(self._replicas(), event.pick)
                _restart_down(node, empty=event.kind == "restart-replica-empty")
                topology.restart(node)
                return node.name
            case "restart-master":
                node = topology.current_master()
                node.shutdown(save=True)
                topology.restart(node)
                return node.name
            case "kill-sentinel":
                index = min(len(topology.sentinels) - 1, int(event.pick * len(topology.sentinels)))
                topology.kill_sentinel(index)
                self.hold(event.duration)
                topology.restart_sentinel(index)
                return topology.sentinels[index].name
            case "slow-link":
                node = pick(topology.nodes, event.pick)
                topology.slow_link(node, event.latency)
                self.hold(event.duration)
                topology.slow_link(node, 0)
                return node.name
        raise ValueError(f"unknown Sentinel fault {event.kind!r}")

    def _partition(self, event: FaultEvent) -> str:
        topology = self.topology
        host, port = topology.master_direct_address()
        self.crowd.go_side(event.side_users, f"redis://{host}:{port}/0")
        try:
            old = topology.partition_master()
            self.hold(event.duration)
            topology.wait_for_new_master(old)
        finally:
            topology.heal()
            self.crowd.leave_side()
        return old.name

    def _replicas(self) -> list[Node]:
        master = self.topology.current_master()
        return [node for node in self.topology.nodes if node is not master and node.running]

    def settle(self) -> None:
        topology = self.topology
        for node in topology.nodes:
            if not node.running:
                topology.restart(node)
        topology.wait_until_healthy(timeout=_SETTLE_TIMEOUT)


class ClusterFaults(Faults):
    """The faults of a :class:`ClusterTopology`."""

    def __init__(self, topology: ClusterTopology, crowd: Crowd, stop: threading.Event):
        super().__init__(stop)
        self.topology, self.crowd = topology, crowd
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def run(self, event: FaultEvent) -> str:
        cluster = self.topology
        match event.kind:
            case "kill":
                old = cluster.kill_master(pick(cluster.primaries(), event.pick))
                cluster.wait_for_new_master(old)
                cluster.restart(old)
                return old.name
            case "pause-short" | "pause-long":
                node = pick(cluster.primaries(), event.pick)
                cluster.pause(node)
                self.hold(event.duration)
                cluster.resume(node)
                return node.name
            case "cluster-failover":
                old = pick(cluster.primaries(), event.pick)
                cluster.failover(old)
                return old.name
            case "migrate-slot":
                return self._migrate(event)
            case "partition":
                node = pick(cluster.primaries(), event.pick)
                cluster.partition(node)
                try:
                    self.hold(event.duration)
                finally:
                    cluster.heal()
                return node.name
            case "slow-link":
                node = pick(cluster.nodes, event.pick)
                cluster.slow_link(node, event.latency)
                self.hold(event.duration)
                cluster.slow_link(node, 0)
                return node.name
            case "restart-replica" | "restart-replica-empty":
                node = self._claim_replica(event.pick)
                try:
                    _restart_down(node, empty=event.kind == "restart-replica-empty")
                    cluster.restart(node)
                finally:
                    self._release(node)
                return node.name
            case "pause-replica":
                node = self._claim_replica(event.pick)
                try:
                    cluster.pause(node)
                    self.hold(event.duration)
                    cluster.resume(node)
                finally:
                    self._release(node)
                return node.name
        raise ValueError(f"unknown Cluster fault {event.kind!r}")

    def _migrate(self, event: FaultEvent) -> str:
        cluster, store = self.topology, self.crowd.main.sync
        user = self.crowd.users[min(len(self.crowd.users) - 1, int(event.pick * len(self.crowd.users)))]
        public = store.public_id(store.load(user.cookie)) or ""
        slot = key_slot(f"{{{public.split('.')[0]}}}".encode())
        source = cluster.slot_owner(slot)
        targets = [node for node in cluster.primaries() if node is not source]
        target = pick(targets, (event.pick * 1000) % 1)
        cluster.begin_migration(slot, target)
        self.hold(event.duration)
        cluster.finish_migration(slot)
        return f"slot {slot} of user {user.index}: {source.name}->{target.name}"

    def _claim_replica(self, fraction: float) -> Node:
        with self._lock:
            free = [n for n in self.topology.nodes if n.role == "slave" and n.name not in self._busy]
            node = pick(free, fraction)
            self._busy.add(node.name)
            return node

    def _release(self, node: Node) -> None:
        with self._lock:
            self._busy.discard(node.name)

    def settle(self) -> None:
        for node in self.topology.nodes:
            if not node.running:
                self.topology.restart(node, timeout=_SETTLE_TIMEOUT)
        self.topology.wait_until_healthy(timeout=_SETTLE_TIMEOUT)


def _first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (harness errors append whole log tails)."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _restart_down(node: Node, *, empty: bool) -> None:
    """Take ``node`` down for a restart: with its data (``SHUTDOWN SAVE``), or killed and its data deleted."""
    if not empty:
        node.shutdown(save=True)
        return
    node.kill()
    for name in ("dump.rdb", "appendonly.aof"):
        (node.workdir / name).unlink(missing_ok=True)
