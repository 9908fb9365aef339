"""Simulated users and what they saw: the measuring part of ``hasession demo`` and ``drill``.

A user signs in once, then keeps incrementing a counter kept in its session. It expects every
answer to be the previous one plus one: a smaller number is a lost write, a missing sign-in is
a lost session, anything but success is an error the person would have seen.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Board", "Outcome", "Phase", "Tally", "run_users"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request as its user saw it."""

    status: str  # "ok", an HTTP status like "500", or an exception name
    count: int | None  # the counter the answer showed (None: no answer / signed out)
    signed_in: bool
    started: float
    seconds: float


@dataclass(slots=True)
class Tally:
    """Everything the users saw during one phase."""

    outcomes: list[Outcome] = field(default_factory=list)
    lost_writes: int = 0
    lost_sessions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome, lost: int, logged_out: bool) -> None:
        with self.lock:
            self.outcomes.append(outcome)
            self.lost_writes += lost
            self.lost_sessions += logged_out

    def statuses(self) -> Counter[str]:
        return Counter(o.status for o in self.outcomes)

    def errors(self) -> int:
        return sum(n for status, n in self.statuses().items() if status != "ok")

    def latency(self, q: float) -> float:
        values = sorted(o.seconds for o in self.outcomes)
        return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0

    def blackout(self) -> float:
        """The longest time any user waited for a successful answer."""
        return max((o.seconds for o in self.outcomes if o.status == "ok"), default=0.0)

    def summary(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses().items()))
        median = statistics.median(o.seconds for o in self.outcomes) if self.outcomes else 0.0
        return (
            f"{len(self.outcomes)} requests ({statuses}); errors seen by users: {self.errors()}; "
            f"lost writes: {self.lost_writes}; lost sessions: {self.lost_sessions}; "
            f"latency p50 {median * 1000:.1f} ms, p99 {self.latency(0.99) * 1000:.0f} ms, "
            f"longest wait {self.blackout():.2f} s"
        )


@dataclass(frozen=True, slots=True)
class Phase:
    """A named stretch of load, with the fault injected in it (``None``: steady load)."""

    name: str
    fault: Callable[[], object] | None
    settle: float = 2.0


@dataclass(slots=True)
class Board:
    """What is going on right now, for a live view and the report's timeline."""

    #: Start time (``time.monotonic()``) of each user's request in flight, by user.
    in_flight: dict[int, float] = field(default_factory=dict)
    #: ``(time.monotonic(), text)`` of each fault injected and each fault done.
    events: list[tuple[float, str]] = field(default_factory=list)
    #: When the load started.
    started: float = field(default_factory=time.monotonic)
    #: ``(time answered, ok)`` of the latest answers, for the requests per second.
    recent: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=20_000))
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rps(self, window: float = 1.0) -> float:
        """Successful answers per second over the last ``window`` seconds."""
        since = time.monotonic() - window
        with self.lock:
            return sum(ok for at, ok in self.recent if at >= since) / window

    def held(self, longer_than: float = 0.25) -> int:
        """Requests in flight for longer than ``longer_than`` seconds: held through a failover."""
        now = time.monotonic()
        with self.lock:
            return sum(now - began > longer_than for began in self.in_flight.values())

    def event(self, text: str) -> None:
        with self.lock:
            self.events.append((time.monotonic(), text))


class _User:
    """One simulated person: the last counter it saw, and whether it is signed in."""

    def __init__(self, step: Callable[[], Outcome], board: Board) -> None:
        self.step = step
        self.board = board
        self.expected: int | None = None

    def once(self, current: list[Tally]) -> None:
        with self.board.lock:
            self.board.in_flight[id(self)] = time.monotonic()
        outcome = self.step()
        with self.board.lock:
            self.board.in_flight.pop(id(self), None)
            self.board.recent.append((time.monotonic(), outcome.status == "ok"))
            self.board.errors += outcome.status != "ok"
        tally = current[0]  # a request counts in the phase in which its user got the answer
        lost = logged_out = 0
        if outcome.status == "ok":
            if not outcome.signed_in:
                logged_out = 1
            elif (
                outcome.count is not None and self.expected is not None and outcome.count < self.expected + 1
            ):
                lost = self.expected + 1 - outcome.count
            self.expected = outcome.count
        tally.add(outcome, lost, bool(logged_out))


def run_users(
    steps: list[Callable[[], Outcome]],
    phases: list[Phase],
    log: Callable[[str], None],
    board: Board | None = None,
) -> dict[str, Tally]:
    """Run every user in its own thread through the phases; return what each phase saw.

    ``board`` (optional) is kept up to date with the requests in flight and the faults.
    """
    board = board if board is not None else Board()
    users = [_User(step, board) for step in steps]
    tallies = {phase.name: Tally() for phase in phases}
    current: list[Tally] = [tallies[phases[0].name]]
    stop = threading.Event()

    def loop(user: _User) -> None:
        while not stop.is_set():
            user.once(current)

    threads = [threading.Thread(target=loop, args=(u,), daemon=True) for u in users]
    for thread in threads:
        thread.start()
    try:
        for phase in phases:
            current[0] = tallies[phase.name]
            started = time.monotonic()
            if phase.fault is not None:
                log(f"  {phase.name}: injecting the fault ...")
                board.event(phase.name)
                phase.fault()
                board.event(f"{phase.name}: done")
            stop.wait(
                max(0.0, phase.settle - (time.monotonic() - started)) + (0.0 if phase.fault is None else 1.0)
            )
            log(f"  {phase.name}: {tallies[phase.name].summary()}")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    return tallies
