# GENERATED from src/hasession/_async/store.py by scripts/unasync.py: do not edit.
"""The sync session store: runs the sans-IO flows on its own blocking sockets (hasession/_transport.py)."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .._commands import Batch, Flow, Reply, pack
from .._exceptions import (
    ConfigurationError,
    FailoverInProgress,
    MasterNotFound,
    NotReplicated,
    StoreError,
    StoreMisconfigured,
    StoreProtocolError,
    StoreUnavailable,
)
from .._results import SaveResult, SessionInfo
from .._retry import RetryState
from .._routing import Discover, Hold, NoScript, Redirected
from .._sentinel import replica_read
from .._sentinel_router import SentinelRouter
from .._session import Session, state_of
from .._store import CANARY_SECONDS, StoreBase, StoreConfig, StoreOptions
from .._switchover import SwitchoverResult
from .._topology import Address, ConnectionOptions, Sentinel, Standalone
from .._transport import IO_ERRORS, Pool, check_hello, decode, io_error, io_errors, settings
from .._watcher import Watchers
from ._compat import Guard, Signal, from_thread, lazy, run_blocking, sleep
from ._connection import Connection, connect
from ._switchover import Driver, Switchover

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["SessionStore"]

log = logging.getLogger("hasession")
T = TypeVar("T")
S = TypeVar("S", bound=Session)


class SessionStore(StoreBase):
    """Sessions in Redis (standalone, Sentinel or Cluster) that survive failovers.

    Every operation is held and retried through a failover for at most the hold budget
    (``RetryPolicy.hold_budget``), then raises :class:`~hasession.StoreUnavailable`.

    .. versionadded:: 0.1
    """

    def __init__(self, config: StoreConfig) -> None:
        super().__init__(config)
        self._pools: dict[Address, Pool[Connection]] = {}
        self._guard = Guard()
        self._news = Signal()
        self._held = 0
        self._watchers: Watchers | None = None
        self._watching = False  # watchers started, or not needed
        self._closed = False
        self._nonces = itertools.count()

    @classmethod
    def from_url(cls, url: str, **options: Unpack[StoreOptions]) -> SessionStore:
        """A store for the topology named by ``url``; the options are :class:`StoreConfig`'s fields."""
        return cls(StoreConfig.from_url(url, **options))

    # -- sessions ----------------------------------------------------------------------------

    @overload
    def open(self, cookie: str | None) -> Session: ...
    @overload
    def open(self, cookie: str | None, *, cls: type[S]) -> S: ...
    def open(self, cookie: str | None, *, cls: type[Session] = Session) -> Session:
        """The session a cookie names, not loaded yet (no I/O; a bad cookie gives a new session).

        ``cls``: the :class:`Session` subclass to build (a framework's own, as Flask's adapter has).
        """
        return cls(self._ctx.ids.verify(cookie), loader=lazy(self.load_into))

    def load(self, cookie: str | None, *, budget: float | None = None) -> Session:
        """The session a cookie names, loaded (one round trip; none for a missing or bad cookie)."""
        session = self.open(cookie)
        self.load_into(session, budget=budget)
        return session

    def load_into(self, session: Session, *, budget: float | None = None) -> None:
        """Load an opened session, if it is not loaded yet."""
        state = state_of(session)
        if state.loaded or state.sid is None:
            return
        state.fill(self._run(self._ctx.load(state.sid, self._now_ms()), budget))

    def save(self, session: Session, *, budget: float | None = None) -> SaveResult:
        """Write what the request changed (often nothing) and say what to do with the cookie."""
        state = state_of(session)
        untouched = self._ctx.untouched(state)
        if untouched is not None:  # nothing to write: no clock, request id or flow
            self.stats.operations += 1
            return untouched
        return self._run(self._ctx.save(state, self._now_ms(), self._request_id()), budget)

    def sessions_of(self, user_id: str, *, budget: float | None = None) -> list[SessionInfo]:
        """The live sessions of a user."""
        return self._run(self._ctx.sessions_of(user_id, self._now_ms()), budget)

    def revoke(self, public_id: str, *, user_id: str | None = None, budget: float | None = None) -> bool:
        """Destroy one session by its public id; ``True`` if it existed."""
        return self._run(self._ctx.revoke(public_id, user_id), budget)

    def revoke_user(self, user_id: str, *, keep: Session | None = None, budget: float | None = None) -> int:
        """Destroy every session of a user except ``keep``; returns how many were destroyed.

        ``budget`` applies to each Redis operation (listing, then one per session).
        """
        spared = self.public_id(keep) if keep is not None else None
        count = 0
        for info in self.sessions_of(user_id, budget=budget):
            if info.public_id != spared:
                count += self.revoke(info.public_id, user_id=user_id, budget=budget)
        return count

    def switchover(self, *, timeout: float = 10.0, pause_ms: int = 3000) -> SwitchoverResult:
        """Move the master to a replica without losing an acknowledged write (Sentinel only).

        Writes pause on the old master until a fully caught-up replica is promoted; this
        store's requests wait (held) and then continue on the new master. See
        :mod:`hasession._switchover` for the steps and why each is needed.
        """
        if not isinstance(self._router, SentinelRouter):
            raise ConfigurationError("switchover() needs a Sentinel topology")
        if not self._watching:  # replicated durability needs their read lease to name the master
            self._start_watchers()
        driver = Driver(
            router=self._router,
            guard=self._guard,
            news=self._news,
            send=self._send,
            discover=self._discover,
            drop=self._drop,
        )
        return Switchover(driver).run(timeout=timeout, pause_ms=pause_ms)

    def close(self) -> None:
        """Stop the Sentinel watchers and close every connection."""
        self._closed = True
        self._news.notify()
        if self._watchers is not None:
            self._watchers.stop()
            run_blocking(self._watchers.join)
        for pool in list(self._pools.values()):
            pool.close()
        self._pools.clear()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the driver ----------------------------------------------------------------------------

    def _run(self, flow: Flow[T], budget: float | None = None) -> T:
        """Run a flow: route each batch (held and retried through a failover), feed it the replies.

        A batch aimed at one node (discovery) fails into the flow, which moves on to the next node;
        any other failure ends the operation."""
        self.stats.operations += 1
        try:
            batch = next(flow)  # the pure part first: an untouched save ends here, with no batch
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if not self._watching:
            self._start_watchers()
        began, retry = time.monotonic(), None  # the retry state is made on the first failure
        while True:
            if self._canary_due():  # only operations that reach Redis: a bad cookie costs no command
                self._check_canary()
            try:
                if batch.node is None:
                    replies, retry = self._execute(batch, retry, began, budget)
                    batch = flow.send(replies)
                    continue
                try:
                    replies = self._send(batch.node, batch)
                except StoreError as exc:
                    batch = flow.throw(exc)
                    continue
                batch = flow.send(replies)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    @staticmethod
    def _drive(flow: Flow[T], send: Callable[[Batch], list[Reply]]) -> T:
        """Feed a flow whose every batch names its node its replies; a failed batch fails into the
        flow, which moves on to the next node."""
        value: list[Reply] | None = None
        error: StoreError | None = None
        while True:
            try:
                batch = flow.throw(error) if error is not None else flow.send(value)  # type: ignore[arg-type]
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            try:
                value = send(batch)
            except StoreError as exc:
                error = exc

    def _start_watchers(self) -> None:
        """Follow Sentinel's events in threads (first use; needs the running loop, for the wake-ups)."""
        self._watching = True
        topology = self.config.topology
        if self._closed or not self.config.sentinel_events or not isinstance(self._router, SentinelRouter):
            return
        assert isinstance(topology, Sentinel)
        self._watchers = Watchers(topology, self._router, self._guard, from_thread(self._after_news))
        self._watchers.ensure()

    def _after_news(self) -> None:
        """A watcher changed the router: re-plan held operations, drop connections to old masters."""
        self._news.notify()
        with self._guard:
            stale = self._router.stale()
        self._drop(stale)

    def _check_canary(self) -> None:
        """One quick try at the canary; housekeeping never holds or fails a request."""
        self._canary_next = time.monotonic() + CANARY_SECONDS  # one check at a time
        try:
            self._judge_canary(self._run(self._ctx.canary(self._request_id()), 0.0))
        except StoreError as exc:
            log.debug("hasession: canary check deferred: %r", exc)
            self._canary_next = 0.0

    def _execute(
        self, batch: Batch, retry: RetryState | None, began: float, budget: float | None
    ) -> tuple[list[Reply], RetryState | None]:
        """Send a routed batch, held and retried until the operation's budget (from ``began``) is
        spent; ``retry``: the operation's failed tries so far (``None``: none yet)."""
        if batch.refresh:  # the version fence (hasession/_fence.py): the last answer was stale
            self._forget_node(batch.route)
        held_since: float | None = None
        fallback = batch.fallback if self.config.degraded_reads is not None else None
        try:
            while True:
                now, address = time.monotonic(), None
                try:
                    with self._guard:
                        plan = self._router.plan(batch, now)
                    if isinstance(plan, Hold):
                        held_since = held_since or self._enter_hold(now)
                        if fallback is not None and (replies := self._degraded(fallback)):
                            return replies, retry
                        fallback = None
                        retry = retry or RetryState.start(self.config.retry, began, budget)
                        self._hold(plan.seconds, retry)
                        continue
                    if isinstance(plan, Discover):
                        self._discover(plan)
                        continue
                    address = plan.address
                    try:
                        replies = self._send(address, batch)
                    except Redirected as exc:
                        if not exc.ask:
                            raise
                        replies = self._send_asking(exc, batch)
                    if self._router.lease and not self._router.leased(time.monotonic()):
                        raise FailoverInProgress(f"{address}: the read lease lapsed before the reply came")
                    return replies, retry
                except StoreError as exc:
                    held_since = held_since or self._enter_hold(now)
                    if fallback is not None and isinstance(exc, (MasterNotFound, FailoverInProgress)):
                        if replies := self._degraded(fallback):
                            return replies, retry
                        fallback = None
                    retry = retry or RetryState.start(self.config.retry, began, budget)
                    retry = self._failed(exc, address, retry, now)
        except StoreUnavailable:
            self.stats.unavailable += 1
            raise
        finally:
            if held_since is not None:
                self._leave_hold(held_since)

    def _failed(self, exc: StoreError, address: Address | None, retry: RetryState, now: float) -> RetryState:
        """Learn from a failed try, then back off (or give up when the budget is spent)."""
        with self._guard:
            if address is not None:
                self._router.failed(address, exc, now)
            stale = self._router.stale()
        self._drop(stale)
        if isinstance(exc, StoreMisconfigured):
            log.error("hasession: configuration error (%s), not retried: %s", exc.cause, exc)
            raise exc
        self.stats.retries += 1
        log.debug("hasession: try %d on %s failed: %r", len(retry.attempts) + 1, address or "discovery", exc)
        self.stats.wait_shortfalls += isinstance(exc, NotReplicated)
        retry, delay = retry.increment(exc, str(address or "discovery"), now, random.random())
        if isinstance(exc, Redirected):
            self.stats.redirects += 1
            return retry  # the router already knows where to go
        sleep(delay)
        return retry

    def _forget_node(self, route: str) -> None:
        with self._guard:
            self._router.suspect(route, time.monotonic())
            stale = self._router.stale()
        self._drop(stale)

    def _discover(self, plan: Discover[object]) -> None:
        result = self._run_targeted(plan.flow)
        with self._guard:
            before = self._router.generation
            self._router.discovered(result, time.monotonic())
            moved = self._router.generation != before
            stale = self._router.stale()
        self._drop(stale)
        if moved and before > 0:
            self.stats.failovers += 1
            log.warning("hasession: the session store's master(s) changed: %s", _describe(result))
        elif moved:
            log.info("hasession: the session store's master(s): %s", _describe(result))
        if moved:
            self._news.notify()

    def _degraded(self, fallback: Batch) -> list[Reply] | None:
        """Answer a read from a fresh-enough replica (Sentinel only), or ``None``."""
        if not isinstance(self._router, SentinelRouter) or self.config.degraded_reads is None:
            return None
        flow = replica_read(
            self._router.sentinels, self._router.master_name, fallback, self.config.degraded_reads
        )
        replies = self._run_targeted(flow)
        self.stats.replica_loads += replies is not None
        return replies

    def _run_targeted(self, flow: Flow[T]) -> T:
        """Run a flow whose every batch names its node (discovery, probes)."""
        return self._drive(flow, lambda batch: self._send(batch.node, batch))  # type: ignore[arg-type]

    def _hold(self, seconds: float, retry: RetryState) -> None:
        remaining = retry.remaining(time.monotonic())
        if remaining <= 0:
            raise retry.exhausted(FailoverInProgress("a failover is still in progress"))
        self._news.wait(min(seconds, remaining))

    def _enter_hold(self, now: float) -> float:
        with self._guard:
            if self._held >= self.config.retry.max_held:
                self.stats.shed += 1
                raise StoreUnavailable(
                    "too many operations held; failing fast", retry_after=self.config.retry.retry_after
                )
            self._held += 1
        self.stats.held += 1
        return now

    def _leave_hold(self, since: float) -> None:
        with self._guard:
            self._held -= 1
            self._canary_next = 0.0  # recovered: did Redis keep its data?
        held = time.monotonic() - since
        self.stats.hold_seconds += held
        self.stats.max_hold_seconds = max(self.stats.max_hold_seconds, held)

    # -- connections ---------------------------------------------------------------------------

    def _send_asking(self, redirect: Redirected, batch: Batch) -> list[Reply]:
        """Follow an ``ASK`` (Cluster, a slot being migrated): the batch once, to the new node."""
        self.stats.redirects += 1
        return self._send(redirect.address, dataclasses.replace(batch, asking=True))

    def _send(self, address: Address, batch: Batch) -> list[Reply]:
        """Send a batch on a pooled connection to ``address`` and settle its replies.

        A connection goes back to its pool only when every reply of the batch was read (error
        replies included); otherwise it is closed (hasession/_transport.py)."""
        pool = self._pools.get(address) or self._pool(address)
        conn = pool.take() or self._open(pool)
        healthy = False
        try:
            try:
                replies = batch.settle(self._exchange(conn, pool, batch.wire(), batch.timeout))
            except NoScript:  # script cache emptied (failover, restart): send the source once
                replies = batch.settle(self._exchange(conn, pool, batch.wire(by_sha=False), batch.timeout))
            healthy = True
            return replies
        except StoreError as exc:
            healthy = _reply_level(exc)
            raise
        finally:
            pool.release(conn, healthy)  # a connection lost meanwhile is skipped by the next take()

    def _exchange(
        self, conn: Connection, pool: Pool[Connection], commands: list[Any], timeout: float | None
    ) -> list[Reply]:
        """Send ``commands`` and read their replies, behind a ``PING`` of a fresh nonce (Sentinels
        know no ``ECHO``).

        The nonce proves the replies answer these commands: a reply left on the connection by an
        earlier command (a bug, or a read that was cut short) is caught, never handed on.
        """
        self.stats.round_trips += 1
        nonce = b"%d" % next(self._nonces)
        address = pool.settings.address
        packed = pack([("PING", nonce), *commands])
        wait = pool.settings.read_timeout if timeout is None else timeout
        try:
            raw = conn.roundtrip(packed, len(commands) + 1, wait)
        except IO_ERRORS as exc:
            raise io_error(address, exc) from exc
        return _echoed(decode(raw, address), nonce, address)

    def _open(self, pool: Pool[Connection]) -> Connection:
        """A new connection of ``pool``, authenticated, named and on its db."""
        config, conn = pool.settings, None
        try:
            with io_errors(config.address):
                conn = connect(config)
                if config.hello_count:
                    raw = conn.roundtrip(config.hello, config.hello_count, config.read_timeout)
                    check_hello(raw, config.address)
            return conn
        except BaseException:
            if conn is not None:
                conn.close()
                conn = None
            raise
        finally:
            pool.opened(conn)

    def _pool(self, address: Address) -> Pool[Connection]:
        pool = self._pools.get(address)
        if pool is None:
            options, unix = self._options_for(address)
            with io_errors(address):  # a TLS file that cannot be read: fails as a connect would
                fresh = Pool[Connection](settings(options, address, unix))
            pool = self._pools.setdefault(address, fresh)  # atomic: threads racing keep one pool
        return pool

    def _options_for(self, address: Address) -> tuple[ConnectionOptions, str | None]:
        """The connection options for ``address`` (a Sentinel's or a data node's) and the unix socket."""
        topology = self.config.topology
        options = topology.options
        if isinstance(topology, Sentinel) and address in topology.sentinels:
            options = topology.sentinel_options
        return options, topology.unix_path if isinstance(topology, Standalone) else None

    def _drop(self, addresses: tuple[Address, ...]) -> None:
        """Close every connection to masters we left (in-flight ones too: they will retry)."""
        for address in addresses:
            pool = self._pools.pop(address, None)
            if pool is not None:
                pool.close()


def _echoed(replies: list[Reply], nonce: bytes, address: Address) -> list[Reply]:
    """The replies to a batch sent behind ``PING nonce``, once the first one proved it is the echo."""
    echoed = replies.pop(0)
    if isinstance(echoed, StoreError):  # refused before it ran (LOADING, ...): so was the batch
        raise echoed
    if echoed != nonce:
        raise StoreProtocolError(f"{address}: a reply out of turn ({echoed!r} for PING {nonce!r})")
    return replies


def _reply_level(exc: BaseException) -> bool:
    """An error reply leaves the connection usable; anything else does not (a refused AUTH or
    TLS handshake may leave replies unread: such a connection is dropped too)."""
    return (
        isinstance(exc, StoreError) and not isinstance(exc, (StoreUnavailable, StoreMisconfigured))
    ) or isinstance(exc, (FailoverInProgress, NotReplicated))


def _describe(found: object) -> str:
    """A short text for what a discovery found (a master, or a cluster slot map)."""
    if isinstance(found, tuple) and found and isinstance(found[0], Address):
        return str(found[0])
    if isinstance(found, tuple):
        return ", ".join(sorted({str(entry[2]) for entry in found}))
    return str(found)
