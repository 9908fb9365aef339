"""The Redis Cluster faults of docs/design.md, *Faults the tests inject*, under concurrent load.

Ten simulated users each own a session holding a counter. A step loads the session, checks the
counter against the value this user last had acknowledged, increments it and saves. Through each
fault the tests assert what the users saw:

- errors: an exception escaping ``load`` or ``save`` (the user would get an error page);
- lost sessions: a load that found no session, or a save told the session was gone (logged out);
- lost writes: a counter below the last acknowledged value;
- writes ahead: a counter above it (a write applied twice, or applied although it failed).

The sync store runs its users in threads; the async store runs them as tasks gathered on one
event loop (in a thread of its own, so the harness's blocking fault calls never stall them).
Figures are printed (run with ``-s``), never asserted::

    .venv/bin/pytest tests/failover/test_cluster_faults.py -s
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar

import pytest
import redis
from redis.crc import key_slot

import hasession
from hasession import RetryPolicy, SaveResult, Session, SessionInfo
from hasession.testing import ClusterTopology, Node, wait_until

pytestmark = pytest.mark.slow

SECRET = "cluster-fault-tests-secret-0123456789"
USERS = 10
#: Users whose sessions live on the primary a test breaks; the others live elsewhere.
ON_VICTIM = 4
Kind = Literal["sync", "async"]
T = TypeVar("T")


# -- the simulated users -------------------------------------------------------------------------------


@dataclass(eq=False)
class User:
    """One person: the cookie it holds, the counter it last had acknowledged, and what it saw."""

    cookie: str
    #: The primary that owned the session's slot when the user was enrolled.
    home: Node
    acknowledged: int = 0
    steps: int = 0
    errors: list[BaseException] = field(default_factory=list)
    lost_writes: int = 0
    lost_sessions: int = 0
    ahead: int = 0
    longest: float = 0.0

    @contextmanager
    def attempt(self) -> Iterator[None]:
        """One request: its duration is recorded and any exception counts as an error page."""
        started = time.monotonic()
        try:
            yield
        except Exception as exc:  # anything that would reach the web framework's error handler
            self.errors.append(exc)
        finally:
            self.longest = max(self.longest, time.monotonic() - started)

    def next_value(self, session: Session) -> int:
        """Check the loaded counter against the last acknowledged one; the value to save next."""
        if session.new:
            self.lost_sessions += 1
            return 1  # start over in a new session (its save sets a new cookie)
        seen = int(session.get("count", 0))
        self.lost_writes += max(0, self.acknowledged - seen)
        self.ahead += max(0, seen - self.acknowledged)
        return seen + 1

    def saved(self, result: SaveResult, value: int) -> None:
        if result.cookie == "delete":  # the session vanished between this load and this save
            self.lost_sessions += 1
            return
        if result.value is not None:
            self.cookie = result.value
        self.acknowledged = value
        self.steps += 1


def _run_sync_user(store: hasession.SessionStore, user: User, stop: threading.Event) -> None:
    while not stop.is_set():
        with user.attempt():
            session = store.load(user.cookie)
            value = user.next_value(session)
            session["count"] = value
            user.saved(store.save(session), value)


async def _run_async_user(store: hasession.AsyncSessionStore, user: User, stop: threading.Event) -> None:
    while not stop.is_set():
        with user.attempt():
            session = await store.load(user.cookie)
            value = user.next_value(session)
            session["count"] = value
            user.saved(await store.save(session), value)


class Crowd:
    """A store (sync or async) and the users working through it until :meth:`stop`.

    Its ``load``/``save``/``sessions_of`` are blocking calls for either kind of store, so test
    code reads the same for both; they are safe to call from any thread.
    """

    def __init__(self, url: str, kind: Kind, **options: Any) -> None:
        self.kind = kind
        self.users: list[User] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._gathered: concurrent.futures.Future[list[None]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self.store: hasession.SessionStore | hasession.AsyncSessionStore
        if kind == "sync":
            self.store = hasession.SessionStore.from_url(url, secret_keys=SECRET, **options)
        else:
            self._loop = asyncio.new_event_loop()
            self._loop_thread = threading.Thread(target=self._loop.run_forever, daemon=True)
            self._loop_thread.start()
            self.store = hasession.AsyncSessionStore.from_url(url, secret_keys=SECRET, **options)

    def __enter__(self) -> Crowd:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- blocking access to either store ---------------------------------------------------------------

    def _wait(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def load(self, cookie: str) -> Session:
        if isinstance(self.store, hasession.SessionStore):
            return self.store.load(cookie)
        return self._wait(self.store.load(cookie))

    def save(self, session: Session) -> SaveResult:
        if isinstance(self.store, hasession.SessionStore):
            return self.store.save(session)
        return self._wait(self.store.save(session))

    def sessions_of(self, user_id: str) -> list[SessionInfo]:
        if isinstance(self.store, hasession.SessionStore):
            return self.store.sessions_of(user_id)
        return self._wait(self.store.sessions_of(user_id))

    def public_id(self, cookie: str) -> str:
        public = self.store.public_id(self.load(cookie))
        assert public is not None
        return public

    def slot_of(self, cookie: str) -> int:
        """The slot of a stored session: its keys share the hash tag ``{<tag>}`` of its public
        id ``<tag>.<hash>`` (``hasession._keys``)."""
        tag = self.public_id(cookie).split(".")[0]
        return key_slot(f"{{{tag}}}".encode())

    def create(self, *, user_id: str | None = None, **data: Any) -> str:
        """Store a new session holding ``data``; returns its cookie."""
        session = self.store.open(None)
        session.update(data)
        session.user_id = user_id
        result = self.save(session)
        assert result.cookie == "set" and result.value is not None
        return result.value

    def create_on(self, cluster: ClusterTopology, primary: Node, count: int, **data: Any) -> list[str]:
        """``count`` new sessions whose slots ``primary`` owns (ids are random: draw until enough)."""
        cookies: list[str] = []
        while len(cookies) < count:
            cookie = self.create(**data)
            if cluster.slot_owner(self.slot_of(cookie)) is primary:
                cookies.append(cookie)
        return cookies

    # -- the users -------------------------------------------------------------------------------------

    def enroll(self, cluster: ClusterTopology, *, victim: Node, on_victim: int = ON_VICTIM) -> list[User]:
        """Create :data:`USERS` users, ``on_victim`` of them with their session on ``victim``."""
        while len(self.users) < USERS:
            cookie = self.create(count=0)
            home = cluster.slot_owner(self.slot_of(cookie))
            same = sum((u.home is victim) == (home is victim) for u in self.users)
            if same < (on_victim if home is victim else USERS - on_victim):
                self.users.append(User(cookie, home))
        return self.users

    def on(self, primary: Node) -> list[User]:
        return [u for u in self.users if u.home is primary]

    def start(self) -> None:
        """Start every user, and return once each has made a first successful step."""
        if isinstance(self.store, hasession.SessionStore):
            store = self.store
            self._threads = [
                threading.Thread(target=_run_sync_user, args=(store, u, self._stop), daemon=True)
                for u in self.users
            ]
            for thread in self._threads:
                thread.start()
        else:
            self._gathered = asyncio.run_coroutine_threadsafe(self._gather(self.store), self._require_loop())
        self.progress(1)

    async def _gather(self, store: hasession.AsyncSessionStore) -> list[None]:
        return await asyncio.gather(*(_run_async_user(store, u, self._stop) for u in self.users))

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def progress(self, steps: int, *, users: Sequence[User] | None = None, timeout: float = 30.0) -> None:
        """Wait until each user (of ``users``, default all) has made ``steps`` more successful steps."""
        group = list(self.users if users is None else users)
        targets = [u.steps + steps for u in group]
        wait_until(
            lambda: all(u.steps >= t for u, t in zip(group, targets, strict=True)),
            timeout=timeout,
            message=f"{len(group)} users to make {steps} more successful steps",
        )

    def stop(self) -> None:
        """Stop the users once their current step ends."""
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        if self._gathered is not None:
            self._gathered.result(timeout=30)
            self._gathered = None

    def close(self) -> None:
        self.stop()
        if isinstance(self.store, hasession.SessionStore):
            self.store.close()
            return
        self._wait(self.store.close())
        loop = self._require_loop()
        loop.call_soon_threadsafe(loop.stop)
        assert self._loop_thread is not None
        self._loop_thread.join(5)
        loop.close()

    # -- what the users saw ----------------------------------------------------------------------------

    @property
    def errors(self) -> list[BaseException]:
        return [e for u in self.users for e in u.errors]

    def lost_writes(self, users: Sequence[User] | None = None) -> int:
        return sum(u.lost_writes for u in (self.users if users is None else users))

    @property
    def lost_sessions(self) -> int:
        return sum(u.lost_sessions for u in self.users)

    @property
    def ahead(self) -> int:
        return sum(u.ahead for u in self.users)

    def final_shortfall(self) -> int:
        """After :meth:`stop`: acknowledged increments the store no longer holds."""
        return sum(max(0, u.acknowledged - int(self.load(u.cookie).get("count", 0))) for u in self.users)

    def final_mismatches(self) -> list[tuple[int, int]]:
        """After :meth:`stop`: ``(acknowledged, stored)`` for each user whose counter differs."""
        stored = [(u.acknowledged, int(self.load(u.cookie).get("count", -1))) for u in self.users]
        return [pair for pair in stored if pair[0] != pair[1]]

    def report(self, label: str) -> str:
        stats = self.store.stats
        return (
            f"\n[cluster] {label} ({self.kind}): {sum(u.steps for u in self.users)} steps by "
            f"{len(self.users)} users; errors {len(self.errors)}; lost writes {self.lost_writes()}; "
            f"lost sessions {self.lost_sessions}; writes ahead {self.ahead}; "
            f"longest hold {stats.max_hold_seconds:.2f}s; longest user wait "
            f"{max(u.longest for u in self.users):.2f}s; held {stats.held}; retries {stats.retries}; "
            f"failovers seen {stats.failovers}; unavailable {stats.unavailable}"
        )


# -- observing the cluster -----------------------------------------------------------------------------


def _info(client: redis.Redis, section: str) -> dict[str, Any]:
    reply: dict[str, Any] = client.info(section)
    return reply


def wait_replicated(cluster: ClusterTopology, primary: Node) -> None:
    """Wait until every replica of ``primary`` has received what ``primary`` had written so far,
    so that a kill loses at most the writes made from now on."""
    with cluster.client_for(primary) as client:
        offset = int(_info(client, "replication")["master_repl_offset"])
    replicas = cluster.replicas_of(primary)

    def caught_up() -> bool:
        for replica in replicas:
            with cluster.client_for(replica) as client:
                if int(_info(client, "replication").get("slave_repl_offset", -1)) < offset:
                    return False
        return True

    wait_until(caught_up, timeout=10, message=f"the replicas of {primary.name} to catch up")


def redirect_counts(cluster: ClusterTopology, nodes: Sequence[Node] | None = None) -> dict[str, int]:
    """``ASK`` and ``MOVED`` replies sent and ``ASKING`` commands received, summed over ``nodes``
    (default: every running node).

    The store has no counter of its own for redirects (see the report), so the servers' own
    ``INFO errorstats`` / ``INFO commandstats`` prove which paths the traffic took.
    """
    totals = {"ASK": 0, "MOVED": 0, "ASKING": 0}
    for node in [n for n in cluster.nodes if n.running] if nodes is None else nodes:
        with cluster.client_for(node) as client:
            errors = _info(client, "errorstats")
            totals["ASK"] += int(errors.get("errorstat_ASK", {}).get("count", 0))
            totals["MOVED"] += int(errors.get("errorstat_MOVED", {}).get("count", 0))
            asking = _info(client, "commandstats").get("cmdstat_asking", {})
            totals["ASKING"] += int(asking.get("calls", 0))
    return totals


def other_primary(cluster: ClusterTopology, slot: int) -> Node:
    owner = cluster.slot_owner(slot)
    return next(node for node in cluster.primaries() if node is not owner)


# -- the faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_primary_killed_under_load(hasession_fresh_redis_cluster: ClusterTopology, kind: Kind) -> None:
    cluster = hasession_fresh_redis_cluster
    victim = cluster.primaries()[0]
    with Crowd(cluster.url, kind) as crowd:
        crowd.enroll(cluster, victim=victim)
        crowd.start()
        crowd.progress(3)
        wait_replicated(cluster, victim)  # every session exists on the replica: none may be lost
        old = cluster.kill_master(victim)  # kill -9; the replica takes over after node timeout (1 s)
        cluster.wait_for_new_master(old)
        crowd.progress(5)  # the users of the dead primary too: their sessions live on its successor now
        crowd.stop()
        print(crowd.report("kill -9 of a primary"))
        assert crowd.errors == []
        assert crowd.lost_sessions == 0
        assert crowd.ahead == 0
        # Replication is asynchronous: the primary acknowledges a write before its replica has it,
        # so the last writes it acknowledged before dying (at most about one per user working on it)
        # may be missing on the promoted replica. Users of the other primaries lose nothing.
        lost = crowd.lost_writes() + crowd.final_shortfall()
        print(f"[cluster] kill -9 ({kind}): acknowledged writes lost: {lost}")
        assert lost <= len(crowd.users)
        assert crowd.lost_writes([u for u in crowd.users if u.home is not victim]) == 0
        assert crowd.final_mismatches() == []  # converged: every counter is the last acknowledged one
        assert crowd.store.stats.failovers >= 1


def test_cluster_failover_loses_nothing(hasession_fresh_redis_cluster: ClusterTopology) -> None:
    cluster = hasession_fresh_redis_cluster
    victim = cluster.primaries()[0]
    with Crowd(cluster.url, "sync") as crowd:
        crowd.enroll(cluster, victim=victim)
        crowd.start()
        crowd.progress(3)
        before = redirect_counts(cluster, [victim])
        new = cluster.failover(victim)  # CLUSTER FAILOVER: the replica catches up, then takes over
        crowd.progress(5)
        crowd.stop()
        print(crowd.report("CLUSTER FAILOVER"))
        assert crowd.errors == []
        assert crowd.lost_sessions == 0
        assert (crowd.lost_writes(), crowd.ahead) == (0, 0)
        assert crowd.final_mismatches() == []
        assert victim.role == "slave" and new.role == "master"
        # The victim's users did reach the demoted primary and were redirected to its successor.
        assert redirect_counts(cluster, [victim])["MOVED"] > before["MOVED"]


def test_the_store_learns_the_new_owner_from_moved(hasession_fresh_redis_cluster: ClusterTopology) -> None:
    cluster = hasession_fresh_redis_cluster
    victim = cluster.primaries()[0]
    with Crowd(cluster.url, "sync") as crowd:
        crowd.enroll(cluster, victim=victim)
        crowd.start()
        crowd.progress(3)
        cluster.failover(victim)
        crowd.progress(5)  # every user of the victim has been redirected once by now
        moved = redirect_counts(cluster, [victim])["MOVED"]
        crowd.progress(5)
        crowd.stop()
        print(crowd.report("CLUSTER FAILOVER, slot map follow-up"))
        # A MOVED patches the slot map: the store then goes straight to the new owner.
        assert redirect_counts(cluster, [victim])["MOVED"] == moved
        assert crowd.store.stats.failovers >= 1


def test_resharding_under_load_follows_ask_then_moved(hasession_fresh_redis_cluster: ClusterTopology) -> None:
    cluster = hasession_fresh_redis_cluster
    victim = cluster.primaries()[0]
    with Crowd(cluster.url, "sync") as crowd, Crowd(cluster.url, "sync") as reader:
        users = crowd.enroll(cluster, victim=victim)
        asked, moved, others = users[:3], users[3:6], users[6:]
        crowd.start()
        crowd.progress(3)

        # 1. Migration begun (IMPORTING / MIGRATING, keys already on the target): the source
        #    answers ASK, and a batch is resent to the target after ASKING.
        before = redirect_counts(cluster)
        slots = [crowd.slot_of(u.cookie) for u in asked]
        for slot in slots:
            cluster.begin_migration(slot, other_primary(cluster, slot))
        crowd.progress(3, users=others)  # users of the other slots keep working
        for user in asked:  # and sessions of the migrating slots can be read (ASK followed)
            acknowledged = user.acknowledged
            session = reader.load(user.cookie)
            assert not session.new
            assert session["count"] >= acknowledged
        during = redirect_counts(cluster)
        assert during["ASK"] > before["ASK"] and during["ASKING"] > before["ASKING"]
        for slot in slots:
            cluster.finish_migration(slot)
        crowd.progress(5)

        # 2. Slots moved in one go, as `redis-cli --cluster reshard` does: users with a stale slot
        #    map get MOVED from the old owner and carry on at the new one.
        before = redirect_counts(cluster)
        for user in moved:
            slot = crowd.slot_of(user.cookie)
            cluster.migrate_slot(slot, other_primary(cluster, slot))
        crowd.progress(5)
        crowd.stop()
        after = redirect_counts(cluster)
        print(crowd.report("resharding (ASK, then MOVED)"))
        print(f"[cluster] resharding: redirects sent/received by the servers: {after}")
        assert after["MOVED"] > before["MOVED"]
        assert crowd.errors == []
        assert crowd.lost_sessions == 0
        assert (crowd.lost_writes(), crowd.ahead) == (0, 0)
        assert crowd.final_mismatches() == []


def test_sessions_of_a_migrating_slot_stay_writable(hasession_fresh_redis_cluster: ClusterTopology) -> None:
    cluster = hasession_fresh_redis_cluster
    # The default 10 s budget fails the same way, only later.
    with Crowd(cluster.url, "sync", retry=RetryPolicy(hold_budget=2.0)) as client:
        migrated, pending = client.create(count=0), client.create(count=0)
        slots = {client.slot_of(migrated), client.slot_of(pending)}
        assert len(slots) == 2
        cluster.begin_migration(client.slot_of(migrated), other_primary(cluster, client.slot_of(migrated)))
        slot = client.slot_of(pending)
        cluster.begin_migration(slot, other_primary(cluster, slot), keys=[])  # its keys not moved yet
        for cookie in (migrated, pending):
            session = client.load(cookie)  # single-key LOAD: served (ASK followed for `migrated`)
            assert session["count"] == 0
            session["count"] = 1
            client.save(session)
            assert client.load(cookie)["count"] == 1


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_login_and_logout_during_primary_failover(
    hasession_fresh_redis_cluster: ClusterTopology, kind: Kind
) -> None:
    cluster = hasession_fresh_redis_cluster
    victim = cluster.primaries()[0]
    with Crowd(cluster.url, kind) as crowd, Crowd(cluster.url, kind) as auth:
        crowd.enroll(cluster, victim=victim)
        logins = auth.create_on(cluster, victim, 3, cart=["book"])
        logouts = auth.create_on(cluster, victim, 3, cart=["pen"])
        for i, cookie in enumerate(logouts):  # signed in: the user index is involved in the logout
            session = auth.load(cookie)
            session.user_id = f"leaving-{i}"
            auth.save(session)
        in_flight = [auth.load(cookie) for cookie in logouts]  # requests begun before the logouts
        crowd.start()
        crowd.progress(3)
        wait_replicated(cluster, victim)

        def login(i: int) -> SaveResult:
            session = auth.load(logins[i])
            session.cycle_id()
            session.user_id = f"arriving-{i}"
            session["signed_in"] = True
            return auth.save(session)

        def logout(i: int) -> SaveResult:
            session = auth.load(logouts[i])
            session.destroy()
            return auth.save(session)

        old = cluster.kill_master(victim)
        with concurrent.futures.ThreadPoolExecutor(6) as pool:  # sent while the victim is down
            login_results = pool.map(login, range(3))
            logout_results = pool.map(logout, range(3))
            logged_in, logged_out = list(login_results), list(logout_results)
        cluster.wait_for_new_master(old)
        crowd.progress(5)
        crowd.stop()
        print(crowd.report("login/logout during kill -9"))
        print(
            f"[cluster] login/logout ({kind}): held {auth.store.stats.held}, "
            f"longest hold {auth.store.stats.max_hold_seconds:.2f}s"
        )

        # Every login and logout started while the victim was dead (it is only replaced after the
        # 1 s node timeout), so each one waited for the failover, then went through.
        assert auth.store.stats.held >= 6
        for i, (old_cookie, result) in enumerate(zip(logins, logged_in, strict=True)):
            assert result.cookie == "set" and result.value not in (None, old_cookie)
            assert result.value is not None
            session = auth.load(result.value)
            assert dict(session) == {"cart": ["book"], "signed_in": True}
            assert auth.load(old_cookie).new  # the pre-login id no longer works
            assert [s.public_id for s in auth.sessions_of(f"arriving-{i}")] == [auth.public_id(result.value)]
        for i, (cookie, result, stale) in enumerate(zip(logouts, logged_out, in_flight, strict=True)):
            assert result.cookie == "delete"
            assert auth.load(cookie).new
            assert auth.sessions_of(f"leaving-{i}") == []
            stale["cart"] = ["resurrected?"]  # a request that loaded before the logout saves after it
            assert auth.save(stale).cookie == "delete"
            assert auth.load(cookie).new
        assert crowd.errors == []
        assert crowd.lost_sessions == 0
        assert crowd.ahead == 0
        assert crowd.lost_writes() <= len(crowd.users)  # asynchronous replication, as with kill -9 above
        assert crowd.final_mismatches() == []
