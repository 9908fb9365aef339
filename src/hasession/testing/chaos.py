"""A seeded, randomized fault campaign in the spirit of Jepsen: simulated users, random faults, a checker.

A :class:`Campaign` starts a local topology (a proxied Sentinel topology, or a Cluster), enrolls simulated
users with their own sessions on both drivers, runs a :class:`Schedule` of faults drawn from the seed, then
hands the history of every request to the :class:`Checker`::

    from hasession.testing.chaos import Campaign

    report = Campaign(topology="sentinel", durability="replicated", seconds=60, seed=7).run()
    print(report.describe())
    assert report.ok, report.describe()

The same seed gives the same schedule (``Schedule.generate``); ``Campaign(schedule=...)`` replays a schedule
read back with ``Schedule.from_json``. Pass your own store options (``store_options``: key prefix, encryption
keys, durability, retry policy...) to test the configuration your application runs. ``hasession chaos`` runs
a campaign from the command line. See ``docs/testing.md``.

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .._config import DurabilityPolicy, RetryPolicy
from ._chaos_check import Checker, Verdict, Violation
from ._chaos_faults import ClusterFaults, Faults, SentinelFaults, run_lane
from ._chaos_history import FaultRecord, History, Op
from ._chaos_schedule import DATA_FAULTS, SOFT_FAULTS, FaultEvent, Schedule, TopologyKind
from ._chaos_users import Crowd
from ._cluster import ClusterTopology
from ._sentinel import SentinelSettings, SentinelTopology

__all__ = [
    "DATA_FAULTS",
    "SOFT_FAULTS",
    "Campaign",
    "Checker",
    "Crowd",
    "FaultEvent",
    "FaultRecord",
    "History",
    "Op",
    "Report",
    "Schedule",
    "Verdict",
    "Violation",
]

_SECRET = "hasession-chaos-campaign-secret-key"
_LANE_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """What a campaign ran and what the checker found.

    .. versionadded:: 0.1
    """

    campaign: Campaign
    schedule: Schedule
    verdict: Verdict
    faults: tuple[FaultRecord, ...]
    #: Seconds the users ran (from the first request to the last fault's end).
    seconds: float
    #: ``time.monotonic()`` when the users started (the history's times are on that clock).
    started: float

    @property
    def ok(self) -> bool:
        """True when the checker found no violation."""
        return self.verdict.ok

    def describe(self, *, limit: int = 30) -> str:
        """The report as text: the outcome, the figures, the violations (the first ``limit``), the faults as
        they ran and, on a violation, the schedule that replays them."""
        campaign = self.campaign
        head = "PASS" if self.ok else "FAIL"
        lines = [
            f"{head}: chaos campaign seed={self.schedule.seed} topology={campaign.topology} "
            f"durability={campaign.durability} users={campaign.users} ran {self.seconds:.0f}s",
            self.verdict.summary(),
        ]
        failed = [f for f in self.faults if f.note]
        if failed:
            lines.append(f"faults that did not complete: {len(failed)}")
        if self.verdict.violations:
            lines.append("violations:")
            lines += [f"  {v.describe()}" for v in self.verdict.violations[:limit]]
            if len(self.verdict.violations) > limit:
                lines.append(f"  ... and {len(self.verdict.violations) - limit} more")
        lines.append("faults as they ran:")
        started = self.started
        for fault in sorted(self.faults, key=lambda f: f.start):
            note = f"  [{fault.note}]" if fault.note else ""
            span = f"{fault.start - started:7.2f}s-{fault.end - started:7.2f}s"
            lines.append(f"  {span} {fault.event.kind} {fault.target}{note}")
        if not self.ok:
            lines += [self.schedule.describe(), f"replay: {campaign.command()}"]
        return "\n".join(lines)

    def reduced_schedule(self, *, lead: float = 2.0, tail: float = 6.0) -> Schedule | None:
        """A smaller schedule to try for a minimal reproduction: only the faults that ran during the first
        violation, shifted so that the first starts ``lead`` seconds in, with their offsets kept; None
        when the report has no violation or the first one overlapped no fault."""
        first = next((v for v in self.verdict.violations if v.user >= 0), None)
        if first is None:
            return None
        moment = self.started + first.at
        suspects = [f for f in self.faults if f.start <= moment + 1.0 and moment - 1.0 <= f.end]
        if not suspects:
            return None
        origin = min(f.event.at for f in suspects)
        events = tuple(
            replace(f.event, at=round(lead + f.event.at - origin, 2))
            for f in sorted(suspects, key=lambda f: f.event.at)
        )
        seconds = max(e.at + e.duration + e.outage for e in events) + tail
        return replace(self.schedule, seconds=round(seconds, 2), events=events)

    def to_json(self) -> str:
        """The report as JSON: outcome, figures, violations, schedule and faults."""
        return json.dumps(
            {
                "ok": self.ok,
                "seed": self.schedule.seed,
                "topology": self.campaign.topology,
                "durability": self.campaign.durability,
                "users": self.campaign.users,
                "seconds": round(self.seconds, 1),
                "ops": self.verdict.ops,
                "acked": self.verdict.acked,
                "allowed": dict(self.verdict.allowed),
                "async_lost": dict(self.verdict.async_lost),
                "violations": [v.describe() for v in self.verdict.violations],
                "faults": [
                    {
                        "kind": f.event.kind,
                        "target": f.target,
                        "seconds": round(f.end - f.start, 2),
                        "note": f.note,
                    }
                    for f in self.faults
                ],
                "schedule": json.loads(self.schedule.to_json()),
            },
            indent=1,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Campaign:
    """One fault campaign: a topology, its users, a seeded schedule and the checker.

    :param topology: ``"sentinel"`` (1 master, 2 replicas, 3 Sentinels, proxied) or ``"cluster"`` (3 primaries
        with a replica each).
    :param durability: the store's ``DurabilityPolicy`` mode (``"replicated"`` waits for 1 replica).
    :param seconds: how long faults are scheduled.
    :param seed: draws the schedule; the same seed gives the same schedule.
    :param users: simulated users (even: async store, odd: sync store).
    :param hold_budget: the store's ``RetryPolicy.hold_budget``.
    :param down_after_ms: Sentinel ``down-after-milliseconds`` / ``cluster-node-timeout``.
    :param think: seconds each user waits between steps.
    :param async_failover_loss_bound: ``async`` mode: acknowledged writes one raw failover may lose; default
        two per user (each of its two concurrent requests may lose its last write).
    :param store_options: more store options (they override the campaign's).
    :param schedule: replay this schedule instead of drawing one.

    .. versionadded:: 0.1
    """

    topology: TopologyKind = "sentinel"
    durability: Literal["async", "replicated"] = "replicated"
    seconds: float = 60.0
    seed: int = 0
    users: int = 8
    hold_budget: float = 10.0
    down_after_ms: int = 1000
    think: float = 0.01
    async_failover_loss_bound: int | None = None
    store_options: Mapping[str, Any] = field(default_factory=dict)
    schedule: Schedule | None = None

    def __post_init__(self) -> None:
        if self.users < 1 or self.seconds <= 0 or self.hold_budget <= 0:
            raise ValueError("a campaign needs users >= 1, seconds > 0 and hold_budget > 0")
        if self.durability not in ("async", "replicated"):
            raise ValueError(f"unknown durability {self.durability!r}")

    def make_schedule(self) -> Schedule:
        """The campaign's schedule: the one given, or the one drawn from its seed."""
        if self.schedule is not None:
            return self.schedule
        return Schedule.generate(
            seed=self.seed,
            topology=self.topology,
            seconds=self.seconds,
            users=self.users,
            down_after=self.down_after_ms / 1000,
        )

    def command(self) -> str:
        """The ``hasession chaos`` command line that replays this campaign (a given schedule must be saved
        with :meth:`Schedule.to_json` to ``FILE``)."""
        if self.schedule is not None:
            return f"hasession chaos --durability {self.durability} --users {self.users} --schedule FILE"
        return (
            f"hasession chaos --topology {self.topology} --durability {self.durability} "
            f"--seconds {self.seconds:g} --seed {self.seed} --users {self.users}"
        )

    def run(self, log: Callable[[str], None] = lambda line: None) -> Report:
        """Run the campaign (it starts and stops its own topology); ``log`` receives progress lines."""
        schedule = self.make_schedule()
        log(schedule.describe())
        history = History()
        with ExitStack() as stack:
            topology = self._topology()
            stack.enter_context(topology)
            options = self._store_options()
            crowd = Crowd(topology.url, users=self.users, options=options, history=history, think=self.think)
            stack.callback(crowd.close)
            stop = threading.Event()
            faults = self._faults(topology, crowd, stop)
            faults.settle()
            crowd.start()
            started = time.monotonic()
            self._run_lanes(schedule, faults, history, started, log)
            ran = time.monotonic() - started
            crowd.stop()
            faults.settle()
            crowd.final_reads()
        checker = Checker(
            owners=[user.owner for user in crowd.users],
            durability=self.durability,
            hold_budget=self.hold_budget,
            async_failover_loss_bound=self._loss_bound(),
            failover_timeout=SentinelSettings().failover_timeout_ms / 1000,
            started=started,
        )
        verdict = checker.check(history.ops, history.faults)
        return Report(
            campaign=self,
            schedule=schedule,
            verdict=verdict,
            faults=tuple(history.faults),
            seconds=ran,
            started=started,
        )

    # -- internals -----------------------------------------------------------------------------------------

    def _loss_bound(self) -> int:
        return (
            self.async_failover_loss_bound if self.async_failover_loss_bound is not None else 2 * self.users
        )

    def _topology(self) -> SentinelTopology | ClusterTopology:
        if self.topology == "sentinel":
            return SentinelTopology(replicas=2, sentinels=3, proxied=True, down_after_ms=self.down_after_ms)
        if self.topology == "cluster":
            return ClusterTopology(
                primaries=3, replicas_per_primary=1, node_timeout_ms=self.down_after_ms, proxied=True
            )
        raise ValueError(f"unknown topology {self.topology!r}")

    def _store_options(self) -> dict[str, Any]:
        return {
            "secret_keys": _SECRET,
            "durability": DurabilityPolicy(mode=self.durability, replicas=1),
            "retry": RetryPolicy(hold_budget=self.hold_budget),
            **self.store_options,
        }

    def _faults(
        self, topology: SentinelTopology | ClusterTopology, crowd: Crowd, stop: threading.Event
    ) -> Faults:
        if isinstance(topology, SentinelTopology):
            return SentinelFaults(topology, crowd, stop)
        if isinstance(topology, ClusterTopology):
            return ClusterFaults(topology, crowd, stop)
        raise TypeError(f"no faults for {type(topology).__name__}")

    def _run_lanes(
        self, schedule: Schedule, faults: Faults, history: History, started: float, log: Callable[[str], None]
    ) -> None:
        lanes = [
            threading.Thread(
                target=run_lane,
                args=([e for e in schedule.events if e.lane == lane], faults, history, started, log),
                name=f"chaos-{lane}",
                daemon=True,
            )
            for lane in ("data", "soft")
        ]
        for lane in lanes:
            lane.start()
        deadline = started + schedule.seconds + _LANE_TIMEOUT
        for lane in lanes:
            lane.join(max(0.0, deadline - time.monotonic()))
        if any(lane.is_alive() for lane in lanes):
            faults.stop.set()
            for lane in lanes:
                lane.join(_LANE_TIMEOUT)
