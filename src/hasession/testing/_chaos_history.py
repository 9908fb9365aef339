"""What a chaos campaign records: every request of every simulated user, and every fault as it happened."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ._chaos_schedule import FaultEvent

__all__ = ["FaultRecord", "History", "Op"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """One request of one user: load its session, change one key, save.

    A request whose load succeeded carries what it saw (``owner``, ``count``, ``b``) even if its save failed.
    ``stream`` is ``"a"`` (increments ``count``, read-modify-write), ``"b"`` (writes the user's own sequence
    number under ``b``, concurrently with ``"a"``) or ``"final"`` (the read after the campaign).

    .. versionadded:: 0.1
    """

    user: int
    stream: str
    #: ``"sync"`` or ``"async"`` (the store that served it); ``"-side"`` added on the master's side of a
    #: partition.
    driver: str
    start: float
    end: float
    #: ``"ok"`` (saved), ``"error"`` (an exception reached the caller) or ``"lost"`` (the load found no
    #: session).
    outcome: str
    #: ``"ExceptionType: message"`` for an error.
    error: str | None = None
    #: What the load saw, or None if it did not complete.
    owner: str | None = None
    count: int | None = None
    b: int | None = None
    #: The value this request tried to write (``count`` for ``"a"``, ``b`` for ``"b"``).
    wrote: int | None = None

    @property
    def observed(self) -> bool:
        """True when the load completed and found the session."""
        return self.owner is not None

    @property
    def acked(self) -> bool:
        """True when the save was acknowledged."""
        return self.outcome == "ok" and self.wrote is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRecord:
    """One fault as it ran: the scheduled event, when it started and when the topology was whole again.

    .. versionadded:: 0.1
    """

    event: FaultEvent
    start: float
    end: float
    #: What it acted on (``"redis-1"``, ``"slot 1234 node-0->node-2"``).
    target: str = ""
    #: A fault that could not be carried out (the error), or a note on what happened.
    note: str = ""


@dataclass(slots=True)
class History:
    """Thread-safe, append-only record of a campaign."""

    ops: list[Op] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: Op) -> None:
        with self._lock:
            self.ops.append(op)

    def fault(self, record: FaultRecord) -> None:
        with self._lock:
            self.faults.append(record)
