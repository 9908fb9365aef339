"""The checker of a chaos campaign: what the users saw, against what the store promises.

Per user, over the history of its requests:

``error``
    An exception reached the caller. Allowed only inside the window of a fault whose estimated outage is at
    least the hold budget (the schedule itself exceeded the budget); inside the window of a kill or a
    partition of the master that a killed Sentinel overlapped (if it led the failover, the others retry only
    after twice ``failover_timeout``: the schedule exceeded the budget); or for a user on the master's side
    of a partition while it lasts (that side cannot acknowledge a write: no replica, no quorum). A Sentinel
    killed during a raw failover, a switchover or a stall is no excuse: the old master is still there.
``lost-session``
    A load found no session. Never allowed: every session is replicated before the first fault, and no fault
    deletes the data of every node.
``foreign-data``
    A load returned a session holding another owner's id. Never allowed.
``stale-read`` / ``lost-write``
    A read (``stale-read``), or the final read after the campaign (``lost-write``), saw a value below one that
    was acknowledged before the read began. In ``replicated`` durability never allowed, with one exception: a
    read on the isolated side of a partition (a user sent there, during the partition) that misses only writes
    acknowledged on the majority side; the isolated master cannot have them and nothing on its side knows it
    has been replaced. The same read missing a write acknowledged on its own side is a violation. In ``async``
    durability, a loss is attributed to the data fault that ran between the acknowledgement of the last lost
    write (less ``lag_grace``) and the read that noticed the loss. After a kill, a long stall, a partition or
    a restart of the master it is counted, not a violation (asynchronous replication loses what the replicas
    had not received); after a raw ``SENTINEL``/``CLUSTER FAILOVER`` the total is checked against
    ``async_failover_loss_bound`` per failover; anywhere else (a switchover, no fault at all) it is a
    violation.
``phantom-write``
    A read saw a value no request had tried to write before the read ended. Never allowed.
``hung-fault``
    A fault did not return long after its duration (the harness's own waits all time out well before): a
    store call such as ``switchover(timeout=...)`` that does not honour its deadline.
"""

from __future__ import annotations

import bisect
import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ._chaos_history import FaultRecord, Op

__all__ = ["Checker", "Verdict", "Violation"]

#: Data faults after which asynchronous replication may lose acknowledged writes by design.
LOSSY_BY_DESIGN = frozenset({"kill", "pause-long", "partition", "restart-master"})
#: Data faults after which the master does not come back by itself (the harness restarts or heals it only
#: once a new master is in place).
MASTER_GONE = frozenset({"kill", "partition"})
#: Raw failovers: their async-mode loss is bounded.
RAW_FAILOVERS = frozenset({"sentinel-failover", "cluster-failover"})
#: How ``Verdict.async_lost`` names writes acknowledged on the isolated side of a partition and lost with the
#: isolated master (the split brain of ``async`` durability without ``min-replicas-to-write``).
ISOLATED_SIDE_WRITES = "partition, written on the isolated side"
_KEYS = {"count": "a", "b": "b"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """One broken promise, with what is needed to find it in the history.

    .. versionadded:: 0.1
    """

    kind: str
    user: int
    #: Seconds after the campaign started.
    at: float
    detail: str
    #: The fault in force, if any (``"pause-long@12.3s"``).
    fault: str = ""

    def describe(self) -> str:
        where = f" during {self.fault}" if self.fault else ""
        return f"{self.at:7.2f}s user {self.user:<3} {self.kind}{where}: {self.detail}"


@dataclass(slots=True, kw_only=True)
class Verdict:
    """What the checker found: violations, and the departures it allowed (counted, with their reason).

    .. versionadded:: 0.1
    """

    violations: list[Violation] = field(default_factory=list)
    #: Allowed departures by reason.
    allowed: Counter[str] = field(default_factory=Counter)
    #: ``async`` mode: acknowledged writes lost, by the fault they are attributed to.
    async_lost: Counter[str] = field(default_factory=Counter)
    ops: int = 0
    acked: int = 0

    @property
    def ok(self) -> bool:
        """True when no violation was found."""
        return not self.violations

    def summary(self) -> str:
        kinds = Counter(v.kind for v in self.violations)
        lines = [
            f"{self.ops} requests, {self.acked} acknowledged writes, "
            f"{len(self.violations)} violations {dict(sorted(kinds.items()))}",
        ]
        if self.allowed:
            lines.append(f"allowed: {dict(sorted(self.allowed.items()))}")
        if self.async_lost:
            lines.append(
                f"async mode, acknowledged writes lost by fault: {dict(sorted(self.async_lost.items()))}"
            )
        return "\n".join(lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class Checker:
    """Checks a campaign's history (see the module docstring for each rule).

    :param owners: each user's owner id, by user index.
    :param durability: ``"async"`` or ``"replicated"``.
    :param hold_budget: the store's hold budget in seconds.
    :param async_failover_loss_bound: in ``async`` mode, acknowledged writes that one raw failover may lose.
    :param lag_grace: seconds before a fault in which an acknowledged write may still be lost by it (not yet
        replicated when the fault hit).

    .. versionadded:: 0.1
    """

    owners: Sequence[str]
    durability: str = "replicated"
    hold_budget: float = 10.0
    async_failover_loss_bound: int = 0
    lag_grace: float = 1.0
    #: Sentinel ``failover-timeout`` in seconds: a Sentinel retries a failover that its leader did not
    #: finish only after twice this.
    failover_timeout: float = 6.0
    started: float = 0.0

    def check(self, ops: Iterable[Op], faults: Sequence[FaultRecord]) -> Verdict:
        """Check every user's requests; returns the verdict."""
        verdict = Verdict()
        per_user: dict[int, list[Op]] = {}
        for op in ops:
            per_user.setdefault(op.user, []).append(op)
        for user, user_ops in sorted(per_user.items()):
            _UserCheck(self, verdict, faults, user).run(user_ops)
        for fault in faults:
            if fault.note.startswith("hung:"):
                verdict.violations.append(
                    Violation(
                        kind="hung-fault",
                        user=-1,
                        at=fault.start - self.started,
                        detail=f"{fault.event.kind} {fault.note} (a store call without a deadline?)",
                    )
                )
        raw = sum(f.event.kind in RAW_FAILOVERS for f in faults)
        lost_raw = sum(n for kind, n in verdict.async_lost.items() if kind in RAW_FAILOVERS)
        if self.durability == "async" and lost_raw > raw * self.async_failover_loss_bound:
            verdict.violations.append(
                Violation(
                    kind="async-loss-bound",
                    user=-1,
                    at=0.0,
                    detail=f"{lost_raw} acknowledged writes lost in {raw} raw failovers "
                    f"(bound {self.async_failover_loss_bound} per failover)",
                )
            )
        verdict.violations.sort(key=lambda v: (v.at, v.user))
        return verdict


class _UserCheck:
    """One user's history, replayed in order of start time."""

    def __init__(self, checker: Checker, verdict: Verdict, faults: Sequence[FaultRecord], user: int) -> None:
        self.checker, self.verdict, self.faults, self.user = checker, verdict, faults, user
        self.acks: dict[str, list[tuple[float, int, bool]]] = {key: [] for key in _KEYS}
        # max-heaps of (-value, end, acknowledged on the isolated side of a partition)
        self.live: dict[str, list[tuple[int, float, bool]]] = {key: [] for key in _KEYS}
        self.next_ack = dict.fromkeys(_KEYS, 0)
        self.attempt_starts: dict[str, list[float]] = {}
        self.attempt_max: dict[str, list[int]] = {}

    def run(self, ops: list[Op]) -> None:
        ops.sort(key=lambda op: (op.stream == "final", op.start))
        self._index(ops)
        for op in ops:
            self.verdict.ops += op.stream != "final"
            self.verdict.acked += op.acked
            if op.outcome == "error":
                self._error(op)
            elif op.outcome == "lost":
                self._violation("lost-session", op, "the load found no session")
            if op.observed:
                self._read(op)

    def _index(self, ops: list[Op]) -> None:
        for key, stream in _KEYS.items():
            mine = [op for op in ops if op.stream == stream and op.wrote is not None]
            self.acks[key] = sorted(
                (op.end, op.wrote, op.driver.endswith("-side"))
                for op in mine
                if op.acked and op.wrote is not None
            )
            attempts = sorted((op.start, op.wrote) for op in mine if op.wrote is not None)
            self.attempt_starts[key] = [start for start, _ in attempts]
            running, highest = [], 0
            for _, value in attempts:
                highest = max(highest, value)
                running.append(highest)
            self.attempt_max[key] = running

    def _read(self, op: Op) -> None:
        if op.owner != self.checker.owners[self.user]:
            self._violation(
                "foreign-data", op, f"owner {op.owner!r} in the session of {self.checker.owners[self.user]!r}"
            )
            return
        for key, seen in (("count", op.count or 0), ("b", op.b or 0)):
            self._advance(key, op.start)
            self._check_phantom(op, key, seen)
            live = self.live[key]
            if live and -live[0][0] > seen:
                if self._isolated_read(op, [entry for entry in live if -entry[0] > seen]):
                    self.verdict.allowed["stale read on the isolated side of a partition"] += 1
                    continue
                lost, last_lost, isolated = -live[0][0] - seen, 0.0, True
                while live and -live[0][0] > seen:
                    _, end, side = heapq.heappop(live)
                    last_lost, isolated = max(last_lost, end), isolated and side
                self._loss(op, key, seen, lost, last_lost, isolated=isolated)

    def _advance(self, key: str, until: float) -> None:
        acks, index = self.acks[key], self.next_ack[key]
        while index < len(acks) and acks[index][0] < until:
            end, value, side = acks[index]
            heapq.heappush(self.live[key], (-value, end, side))
            index += 1
        self.next_ack[key] = index

    def _isolated_read(self, op: Op, missing: list[tuple[int, float, bool]]) -> bool:
        """A read on the isolated side of a partition, missing only writes acknowledged on the majority side:
        the isolated master cannot have them, and nothing on its side knows it has been replaced."""
        if not op.driver.endswith("-side") or any(side for _, _, side in missing):
            return False
        return any(
            f.event.kind == "partition" and self.user in f.event.side_users for f in self._overlapping(op)
        )

    def _check_phantom(self, op: Op, key: str, seen: int) -> None:
        position = bisect.bisect_left(self.attempt_starts[key], op.end)
        tried = self.attempt_max[key][position - 1] if position else 0
        if seen > tried:
            self._violation("phantom-write", op, f"{key}={seen} but no request had tried above {tried}")

    def _loss(self, op: Op, key: str, seen: int, amount: int, last_lost: float, *, isolated: bool) -> None:
        """``amount`` acknowledged values of ``key`` above ``seen`` are missing; the last was acknowledged at
        ``last_lost``, so whatever lost them happened between then and this read. ``isolated``: every one
        of them was acknowledged on the isolated side of a partition (counted apart: the split brain of
        ``async`` durability, not writes in flight)."""
        kind = "lost-write" if op.stream == "final" else "stale-read"
        detail = (
            f"{key}={seen}, {amount} below a value acknowledged at "
            f"{last_lost - self.checker.started:.2f}s (read by {op.driver} {op.stream})"
        )
        if self.checker.durability != "async":
            self._violation(kind, op, detail)
            return
        fault = self._data_fault_between(last_lost - self.checker.lag_grace, op.start)
        if fault is not None and fault.event.kind in LOSSY_BY_DESIGN | RAW_FAILOVERS:
            cause = fault.event.kind
            if cause == "partition" and isolated:
                cause = ISOLATED_SIDE_WRITES
            self.verdict.async_lost[cause] += amount
            self.verdict.allowed[f"async {kind} after {cause}"] += 1
            return
        self._violation(kind, op, detail + " (not attributable to a fault that may lose writes)")

    def _data_fault_between(self, first: float, last: float) -> FaultRecord | None:
        found = [f for f in self.faults if f.event.lane == "data" and f.start <= last and first <= f.end]
        return found[-1] if found else None

    def _error(self, op: Op) -> None:
        reason = self._error_allowance(op)
        if reason:
            self.verdict.allowed[reason] += 1
        else:
            self._violation(
                "error", op, f"{op.error} after {op.end - op.start:.2f}s ({op.driver} {op.stream})"
            )

    def _error_allowance(self, op: Op) -> str:
        for fault in self._overlapping(op):
            event = fault.event
            if event.kind == "partition" and op.user in event.side_users and op.driver.endswith("-side"):
                return "error on the isolated side of a partition"
            if event.outage >= self.checker.hold_budget:
                return f"error during {event.kind}, whose outage exceeds the hold budget"
            if self._leaderless(fault):
                return (
                    f"error during {event.kind} with a Sentinel killed: a retried failover exceeds the budget"
                )
        return ""

    def _leaderless(self, fault: FaultRecord) -> bool:
        """A master that does not come back by itself (killed, or cut off) while a Sentinel is killed: if
        that Sentinel led the failover, the others retry only after twice ``failover-timeout``, so the outage
        is the fault's own plus that wait."""
        if fault.event.kind not in MASTER_GONE:
            return False
        outage = fault.event.outage + 2 * self.checker.failover_timeout
        return outage >= self.checker.hold_budget and any(
            other.event.kind == "kill-sentinel" and other.start <= fault.end and fault.start <= other.end
            for other in self.faults
        )

    def _overlapping(self, op: Op) -> list[FaultRecord]:
        return [f for f in self.faults if f.start <= op.end and op.start <= f.end]

    def _violation(self, kind: str, op: Op, detail: str) -> None:
        faults = self._overlapping(op)
        label = ", ".join(f"{f.event.kind}@{f.start - self.checker.started:.1f}s" for f in faults)
        self.verdict.violations.append(
            Violation(
                kind=kind, user=self.user, at=op.start - self.checker.started, detail=detail, fault=label
            )
        )
