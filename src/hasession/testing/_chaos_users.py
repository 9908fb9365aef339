"""The simulated users of a chaos campaign, on both drivers.

Even users go through an :class:`~hasession.AsyncSessionStore` (tasks on an event loop in a thread of its
own), odd users through a :class:`~hasession.SessionStore` (threads): the two sit on different redis-py
code paths. Each user owns one session holding its owner id, a counter ``count`` and a sequence ``b``. A
step runs two requests of the user at once, as a browser does: ``a`` increments ``count`` (read-modify-write),
``b`` writes the next number of the user's own sequence under ``b``. Every request is recorded in the
:class:`History` with what its load saw and what it wrote.

During a partition some users are moved to the master's side: their requests go straight to the isolated
master (its own address, not through the cut proxy), as the app servers on that side of the split would.

The fault tests (``tests/failover``) use the same crowd for one fault at a time: ``with Crowd(...) as crowd``
starts the users, :meth:`Crowd.fault` records the fault's window, and :meth:`Crowd.assert_unharmed` stops the
users and judges what they saw with the campaign's :class:`~hasession.testing.chaos.Checker`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from .._async.store import AsyncSessionStore
from .._session import Session
from .._sync.store import SessionStore
from ._chaos_check import Checker, Verdict
from ._chaos_history import FaultRecord, History, Op
from ._chaos_schedule import FaultEvent
from ._wait import wait_until

__all__ = ["ChaosUser", "Crowd"]

_JOIN_TIMEOUT = 60.0
#: Requests a user has in flight at once (streams ``a`` and ``b``): what a lossy fault may lose of it.
IN_FLIGHT = 2
T = TypeVar("T")


@dataclass(eq=False, slots=True)
class ChaosUser:
    """One simulated person: its cookie, its owner id and its next ``b`` number."""

    index: int
    owner: str
    cookie: str
    driver: str
    next_b: int = 1
    side: bool = False
    #: Acknowledged ``a`` requests (only the user's ``a`` requests, one at a time, change it).
    steps: int = 0


class _Stores:
    """A sync and an async store on one URL (the async one bound to the crowd's loop)."""

    def __init__(self, url: str, options: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.sync = SessionStore.from_url(url, **options)
        self.asyncs = AsyncSessionStore.from_url(url, **options)
        self._loop = loop

    def close(self) -> None:
        self.sync.close()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.asyncs.close(), self._loop).result(_JOIN_TIMEOUT)


class Crowd:
    """``users`` simulated users on the store at ``url``, stepping until :meth:`stop`.

    :param url: the store URL (``redis+sentinel://...`` or ``redis+cluster://...``).
    :param users: how many users; even ones use the async store, odd ones the sync store.
    :param options: the store options (``secret_keys``, ``durability``, ``retry``, ...).
    :param history: where every request is recorded.
    :param think: seconds a user waits between two steps.
    :param place: called with a new session's index and public id at enrollment; a session it refuses is
        left and another one drawn (to put users' sessions on a chosen Cluster node).
    """

    def __init__(
        self,
        url: str,
        *,
        users: int,
        options: dict[str, Any],
        history: History | None = None,
        think: float = 0.01,
        place: Callable[[int, str], bool] | None = None,
    ) -> None:
        self.history = History() if history is None else history
        self.options = options
        self.think = think
        self._stop = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="chaos-loop", daemon=True)
        self._loop_thread.start()
        self.main = _Stores(url, options, self._loop)
        self._side: _Stores | None = None
        self._threads: list[threading.Thread] = []
        self._tasks: concurrent.futures.Future[list[None]] | None = None
        self._closed = self._read_back = False
        self._started = 0.0
        self.users = [self._enroll(i, place) for i in range(users)]

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every user."""
        for user in self.users:
            if user.driver == "sync":
                thread = threading.Thread(
                    target=self._run_sync, args=(user,), name=f"chaos-user-{user.index}"
                )
                thread.daemon = True
                thread.start()
                self._threads.append(thread)
        self._started = time.monotonic()
        async_users = [u for u in self.users if u.driver == "async"]
        self._tasks = asyncio.run_coroutine_threadsafe(self._gather(async_users), self._loop)

    def stop(self) -> None:
        """Stop every user once its current step ends."""
        self._stop.set()
        for thread in self._threads:
            thread.join(_JOIN_TIMEOUT)
        if self._tasks is not None:
            with contextlib.suppress(Exception):
                self._tasks.result(_JOIN_TIMEOUT)

    def close(self) -> None:
        """Stop the users and close every store and the loop (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self.leave_side()
        self.main.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(_JOIN_TIMEOUT)
        self._loop.close()

    def __enter__(self) -> Crowd:
        """Start every user; returns once each has had a first request acknowledged."""
        self.start()
        self.progress(1)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def steps(self) -> int:
        """Requests recorded so far."""
        return len(self.history.ops)

    def progress(
        self, steps: int, *, users: Sequence[ChaosUser] | None = None, timeout: float = 30.0
    ) -> None:
        """Wait until each user (of ``users``, default all) has ``steps`` more ``a`` requests acknowledged."""
        group = list(self.users if users is None else users)
        targets = [user.steps + steps for user in group]
        wait_until(
            lambda: all(user.steps >= target for user, target in zip(group, targets, strict=True)),
            timeout=timeout,
            message=f"{len(group)} users to have {steps} more requests acknowledged",
        )

    def stat(self, name: str) -> float:
        """A counter of :class:`~hasession.Stats`, summed over the crowd's sync and async store."""
        return float(getattr(self.main.sync.stats, name) + getattr(self.main.asyncs.stats, name))

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine of the async store (``crowd.main.asyncs``) on the crowd's loop, and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_JOIN_TIMEOUT)

    # -- one fault at a time (the fault tests) -------------------------------------------------------------

    @contextlib.contextmanager
    def fault(self, kind: str, *, users: Sequence[int] = ()) -> Iterator[None]:
        """Record the window of a fault the caller injects in the block; ``kind`` as in the schedule
        (``"kill"``, ``"partition"``, ...), ``users`` sent to the master's side of a partition."""
        start = time.monotonic()
        try:
            yield
        finally:
            event = FaultEvent(at=0.0, kind=kind, lane="data", side_users=tuple(users))
            self.history.fault(FaultRecord(event=event, start=start, end=time.monotonic()))

    def verdict(self, *, lossy: bool = False, users: Sequence[ChaosUser] | None = None) -> Verdict:
        """Stop the users, read every session once more (once), and check the history of ``users``
        (default: all).

        :param lossy: the recorded faults may lose acknowledged writes by design (asynchronous replication):
            losses they explain are counted (``async_lost``), not violations. Otherwise none is allowed.
        """
        self.stop()
        if not self._read_back:
            self._read_back = True
            self.final_reads()
        checked = {user.index for user in (self.users if users is None else users)}
        owners = [user.owner for user in self.users]
        durability = "async" if lossy else "replicated"
        checker = Checker(owners=owners, durability=durability, started=self._started)
        return checker.check([op for op in self.history.ops if op.user in checked], self.history.faults)

    def assert_unharmed(self, *, lossy: bool = False) -> Verdict:
        """:meth:`verdict`, asserting what the users saw: no error, no lost session, no other user's data, no
        value that no request wrote (a write applied twice), and no acknowledged write lost; with ``lossy``,
        at most one lost per request in flight when the fault hit (:data:`IN_FLIGHT` per user)."""
        verdict = self.verdict(lossy=lossy)
        described = "\n".join([verdict.summary(), *(v.describe() for v in verdict.violations[:20])])
        assert verdict.ok, described
        lost = sum(verdict.async_lost.values())
        assert lost <= IN_FLIGHT * len(self.users), described
        return verdict

    # -- partitions ----------------------------------------------------------------------------------------

    def go_side(self, users: Sequence[int], url: str) -> None:
        """Send ``users``' requests to ``url`` (the isolated master's address) until :meth:`leave_side`."""
        self._side = _Stores(url, self.options, self._loop)
        for index in users:
            if index < len(self.users):
                self.users[index].side = True

    def leave_side(self) -> None:
        """Send every user's requests to the main store again."""
        for user in self.users:
            user.side = False
        side, self._side = self._side, None
        if side is not None:
            side.close()

    # -- the final read ------------------------------------------------------------------------------------

    def final_reads(self) -> None:
        """Read every user's session once more, through the sync store, and record it as stream ``final``."""
        for user in self.users:
            _Request(self.history, user, "final", "sync").run_sync(self.main.sync)

    # -- internals -----------------------------------------------------------------------------------------

    def _enroll(self, index: int, place: Callable[[int, str], bool] | None) -> ChaosUser:
        owner = f"owner-{index}-{secrets.token_hex(4)}"
        while True:
            session = self.main.sync.open(None)
            session.update(owner=owner, count=0, b=0)
            cookie = self.main.sync.save(session).value
            if cookie is None:
                raise RuntimeError("the store did not return a cookie for a new session")
            if place is None or place(index, str(self.main.sync.public_id(self.main.sync.open(cookie)))):
                break
        return ChaosUser(
            index=index, owner=owner, cookie=cookie, driver="async" if index % 2 == 0 else "sync"
        )

    def _stores(self, user: ChaosUser) -> tuple[_Stores, str]:
        side = self._side
        if user.side and side is not None:
            return side, f"{user.driver}-side"
        return self.main, user.driver

    def _run_sync(self, user: ChaosUser) -> None:
        while not self._stop.is_set():
            stores, driver = self._stores(user)
            other = threading.Thread(
                target=_Request(self.history, user, "b", driver).run_sync, args=(stores.sync,)
            )
            other.start()
            _Request(self.history, user, "a", driver).run_sync(stores.sync)
            other.join()
            self._stop.wait(self.think)

    async def _gather(self, users: list[ChaosUser]) -> list[None]:
        return await asyncio.gather(*(self._run_async(user) for user in users))

    async def _run_async(self, user: ChaosUser) -> None:
        while not self._stop.is_set():
            stores, driver = self._stores(user)
            requests = (_Request(self.history, user, stream, driver) for stream in ("a", "b"))
            await asyncio.gather(*(request.run_async(stores.asyncs) for request in requests))
            await asyncio.sleep(self.think)


class _Request:
    """One request: load, change one key, save; recorded whatever happens."""

    def __init__(self, history: History, user: ChaosUser, stream: str, driver: str) -> None:
        self.history, self.user, self.stream, self.driver = history, user, stream, driver
        self.start = time.monotonic()
        self.seen: Session | None = None
        self.wrote: int | None = None

    def run_sync(self, store: SessionStore) -> None:
        try:
            session = store.load(self.user.cookie)
            if self._change(session):
                store.save(session)
        except Exception as exc:  # anything that would reach the web framework's error handler
            self._record("error", exc)
        else:
            self._record("lost" if self.seen is not None and self.seen.new else "ok")

    async def run_async(self, store: AsyncSessionStore) -> None:
        try:
            session = await store.load(self.user.cookie)
            if self._change(session):
                await store.save(session)
        except Exception as exc:  # anything that would reach the web framework's error handler
            self._record("error", exc)
        else:
            self._record("lost" if self.seen is not None and self.seen.new else "ok")

    def _change(self, session: Session) -> bool:
        """Note what the load saw; change the session unless it is new or this is the final read."""
        self.seen = session
        if session.new or self.stream == "final":
            return False
        if self.stream == "a":
            self.wrote = int(session.get("count", 0)) + 1
            session["count"] = self.wrote
        else:
            self.wrote = self.user.next_b
            self.user.next_b += 1
            session["b"] = self.wrote
        return True

    def _record(self, outcome: str, exc: BaseException | None = None) -> None:
        seen = self.seen if self.seen is not None and not self.seen.new else None
        if outcome == "ok" and self.stream == "a" and self.wrote is not None:
            self.user.steps += 1
        self.history.add(
            Op(
                user=self.user.index,
                stream=self.stream,
                driver=self.driver,
                start=self.start,
                end=time.monotonic(),
                outcome=outcome,
                error=None if exc is None else f"{type(exc).__name__}: {exc}",
                owner=None if seen is None else str(seen.get("owner")),
                count=None if seen is None else int(seen.get("count", 0)),
                b=None if seen is None else int(seen.get("b", 0)),
                wrote=self.wrote if outcome != "lost" else None,
            )
        )
