"""The fault schedule of a chaos campaign: timed fault events drawn from a seed, printable and replayable.

Two lanes run side by side. The *data* lane breaks data nodes (kill, stall, failover, partition, restart, slot
migration) one fault at a time, so that a promotable replica always exists; the *soft* lane overlaps it with
faults a healthy deployment rides through (a Sentinel killed, a slow link, a replica stalled briefly). Each
event's ``at`` is its earliest start: an event starts once its lane's previous fault has ended.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Literal

__all__ = ["DATA_FAULTS", "SOFT_FAULTS", "FaultEvent", "Schedule", "TopologyKind"]

TopologyKind = Literal["sentinel", "cluster"]

#: Faults of the data lane, per topology.
DATA_FAULTS: dict[TopologyKind, tuple[str, ...]] = {
    "sentinel": (
        "kill",
        "pause-short",
        "pause-long",
        "sentinel-failover",
        "switchover",
        "partition",
        "restart-replica",
        "restart-replica-empty",
        "restart-master",
    ),
    "cluster": (
        "kill",
        "pause-short",
        "pause-long",
        "cluster-failover",
        "partition",
        "migrate-slot",
        "restart-replica",
        "restart-replica-empty",
    ),
}
#: Faults of the soft lane, per topology.
SOFT_FAULTS: dict[TopologyKind, tuple[str, ...]] = {
    "sentinel": ("kill-sentinel", "slow-link"),
    "cluster": ("pause-replica", "slow-link"),
}
#: Faults after which the topology elects a new master (what the outage estimate of an event is made of).
FAILOVERS = frozenset({"kill", "pause-long", "sentinel-failover", "cluster-failover", "partition"})
_WARMUP = 2.0
_TAIL = 4.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultEvent:
    """One fault: when it may start, what it does, for how long, and on what.

    .. versionadded:: 0.1
    """

    #: Seconds after the campaign started at which the fault may start (later if its lane is busy).
    at: float
    #: The fault, one of :data:`DATA_FAULTS` or :data:`SOFT_FAULTS`.
    kind: str
    #: ``"data"`` or ``"soft"``.
    lane: str
    #: How long the fault holds (a stall, a partition, a slow link, a Sentinel's absence; 0: instant).
    duration: float = 0.0
    #: A number in [0, 1) that picks the target among the candidates alive when the fault starts.
    pick: float = 0.0
    #: Extra delay per chunk of traffic for ``slow-link``, in seconds.
    latency: float = 0.0
    #: Users whose requests go through the master's side of a ``partition``.
    side_users: tuple[int, ...] = ()
    #: Estimated seconds during which some operation cannot complete (a stall, a failover).
    outage: float = 0.0

    def describe(self) -> str:
        """One line: ``  12.3s data  pause-long  4.20s pick=0.31``."""
        extras = [f"pick={self.pick:.2f}"]
        if self.latency:
            extras.append(f"latency={self.latency * 1000:.0f}ms")
        if self.side_users:
            extras.append(f"side-users={','.join(map(str, self.side_users))}")
        return f"{self.at:7.2f}s {self.lane:4} {self.kind:22} {self.duration:5.2f}s {' '.join(extras)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """The timed faults of one campaign; :meth:`generate` with the same arguments gives the same schedule.

    .. versionadded:: 0.1
    """

    seed: int
    topology: TopologyKind
    seconds: float
    users: int
    events: tuple[FaultEvent, ...] = field(default=())

    @classmethod
    def generate(
        cls,
        *,
        seed: int,
        topology: TopologyKind = "sentinel",
        seconds: float = 60.0,
        users: int = 8,
        down_after: float = 1.0,
        failover_seconds: float = 3.0,
    ) -> Schedule:
        """Draw a schedule from ``seed``. ``down_after`` is how long a master may be silent before it is
        failed over (Sentinel ``down-after-milliseconds`` or ``cluster-node-timeout``); ``failover_seconds``
        how long an election and promotion take after that: both size the stalls and the outage estimates."""
        if topology not in DATA_FAULTS:
            raise ValueError(f"unknown topology {topology!r}")
        rng = random.Random(seed)
        draw = _Draw(rng, topology, users=users, down_after=down_after, failover_seconds=failover_seconds)
        events = [*_lane(rng, draw, "data", DATA_FAULTS[topology], seconds)]
        if SOFT_FAULTS[topology]:
            events += _lane(rng, draw, "soft", SOFT_FAULTS[topology], seconds)
        events.sort(key=lambda event: (event.at, event.lane))
        return cls(seed=seed, topology=topology, seconds=seconds, users=users, events=tuple(events))

    def describe(self) -> str:
        """The schedule as text, one event per line, headed by what replays it."""
        head = (
            f"schedule: seed={self.seed} topology={self.topology} seconds={self.seconds:g} users={self.users}"
        )
        return "\n".join([head, *(event.describe() for event in self.events)])

    def to_json(self) -> str:
        """The schedule as JSON (see :meth:`from_json`)."""
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        """Read a schedule written by :meth:`to_json`."""
        raw = json.loads(text)
        events = tuple(
            FaultEvent(**{**item, "side_users": tuple(item.get("side_users", ()))}) for item in raw["events"]
        )
        return cls(
            seed=int(raw["seed"]),
            topology=raw["topology"],
            seconds=float(raw["seconds"]),
            users=int(raw["users"]),
            events=events,
        )


@dataclass(frozen=True, slots=True)
class _Draw:
    """Draws one event's parameters."""

    rng: random.Random
    topology: TopologyKind
    users: int
    down_after: float
    failover_seconds: float

    def event(self, at: float, kind: str, lane: str) -> FaultEvent:
        rng, down = self.rng, self.down_after
        duration = {
            "pause-short": rng.uniform(0.2, 0.6) * down,
            "pause-long": down + rng.uniform(0.5, 3.0),
            "partition": down + rng.uniform(2.0, 5.0),
            "kill-sentinel": rng.uniform(1.0, 6.0),
            "slow-link": rng.uniform(1.0, 5.0),
            "pause-replica": rng.uniform(0.2, 0.6) * down,
            "migrate-slot": rng.uniform(0.5, 3.0),
        }.get(kind, 0.0)
        latency = rng.uniform(0.02, 0.2) if kind == "slow-link" else 0.0
        side: tuple[int, ...] = ()
        if kind == "partition" and self.topology == "sentinel" and self.users > 1:
            side = tuple(sorted(rng.sample(range(self.users), max(1, self.users // 4))))
        return FaultEvent(
            at=round(at, 2),
            kind=kind,
            lane=lane,
            duration=round(duration, 2),
            pick=round(rng.random(), 3),
            latency=round(latency, 3),
            side_users=side,
            outage=round(self.outage(kind, duration, latency), 2),
        )

    def outage(self, kind: str, duration: float, latency: float) -> float:
        if kind in FAILOVERS:
            return self.down_after + self.failover_seconds
        if kind == "restart-master":  # a restart without a failover: back on its port in about a second
            return self.down_after + self.failover_seconds
        if kind == "slow-link":
            return 4 * latency  # a request and its reply, both ways through the proxy
        return duration


def _lane(
    rng: random.Random, draw: _Draw, lane: str, kinds: tuple[str, ...], seconds: float
) -> list[FaultEvent]:
    """Events at random gaps, each nominally given time to end before the next one."""
    events: list[FaultEvent] = []
    at = _WARMUP + (rng.uniform(0.0, 4.0) if lane == "soft" else 0.0)
    while at < seconds - _TAIL:
        event = draw.event(at, rng.choice(kinds), lane)
        events.append(event)
        at += event.duration + event.outage / 2 + rng.uniform(1.0, 4.0)
    return events
