"""The Redis Cluster faults of docs/design.md, *Faults the tests inject*, under concurrent load.

Ten simulated users (``conftest.crowd``, on the sync and the async store by turns) each own a
session; through each fault the tests assert what they saw: no error page, no lost session, no
acknowledged write lost (at most one per request in flight after a kill -9, asynchronous
replication), no write applied twice. Figures are printed (run with ``-s``), never asserted::

    .venv/bin/pytest tests/failover/test_cluster_faults.py -s
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import redis
from redis.crc import key_slot

import hasession
from hasession import RetryPolicy, SaveResult, SessionStore
from hasession.testing import ClusterTopology, Node, wait_until

from .conftest import SECRET

pytestmark = pytest.mark.slow

#: Users whose sessions live on the primary a test breaks (users 0 to 3: two of each driver).
ON_VICTIM = 4


# -- sessions and their slots --------------------------------------------------------------------------


def slot_of(public_id: str) -> int:
    """The slot of a stored session: its keys share the hash tag ``{<tag>}`` of its public id
    ``<tag>.<hash>`` (``hasession._keys``)."""
    return key_slot(f"{{{public_id.split('.')[0]}}}".encode())


def cookie_slot(store: SessionStore, cookie: str) -> int:
    return slot_of(str(store.public_id(store.load(cookie))))


def on_victim(cluster: ClusterTopology, victim: Node) -> Callable[[int, str], bool]:
    """A crowd's ``place``: users 0 to :data:`ON_VICTIM` - 1 on ``victim``, the others elsewhere."""
    return lambda index, public_id: (cluster.slot_owner(slot_of(public_id)) is victim) == (index < ON_VICTIM)


def create(store: SessionStore, **data: Any) -> str:
    """Store a new session holding ``data``; returns its cookie."""
    session = store.open(None)
    session.update(data)
    result = store.save(session)
    assert result.cookie == "set" and result.value is not None
    return result.value


def create_on(
    store: SessionStore, cluster: ClusterTopology, primary: Node, count: int, **data: Any
) -> list[str]:
    """``count`` new sessions whose slots ``primary`` owns (ids are random: draw until enough)."""
    cookies: list[str] = []
    while len(cookies) < count:
        cookie = create(store, **data)
        if cluster.slot_owner(cookie_slot(store, cookie)) is primary:
            cookies.append(cookie)
    return cookies


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


def test_primary_killed_under_load(hasession_fresh_redis_cluster: ClusterTopology, crowd: Any) -> None:
    cluster = hasession_fresh_redis_cluster
    victim = cluster.primaries()[0]
    with crowd(cluster.url, place=on_victim(cluster, victim)) as users:
        users.progress(3)
        wait_replicated(cluster, victim)  # every session exists on the replica: none may be lost
        with users.fault("kill"):
            old = cluster.kill_master(victim)  # kill -9; the replica takes over after node timeout (1 s)
            cluster.wait_for_new_master(old)
        users.progress(5)  # the users of the dead primary too: their sessions live on its successor now
        # Replication is asynchronous: the primary acknowledges a write before its replica has it, so
        # the last writes it acknowledged before dying (at most one per request in flight) may be
        # missing on the promoted replica. Users of the other primaries lose nothing.
        print("[cluster] kill -9 of a primary:", users.assert_unharmed(lossy=True).summary())
        assert users.verdict(users=users.users[ON_VICTIM:]).ok
        assert users.main.sync.stats.failovers >= 1 and users.main.asyncs.stats.failovers >= 1


def test_cluster_failover_loses_nothing_and_moved_patches_the_slot_map(
    hasession_fresh_redis_cluster: ClusterTopology, crowd: Any
) -> None:
    cluster = hasession_fresh_redis_cluster
    victim = cluster.primaries()[0]
    with crowd(cluster.url, place=on_victim(cluster, victim)) as users:
        users.progress(3)
        before = redirect_counts(cluster, [victim])
        with users.fault("cluster-failover"):
            new = cluster.failover(victim)  # CLUSTER FAILOVER: the replica catches up, then takes over
        users.progress(5)  # every user of the victim has been redirected once by now
        moved = redirect_counts(cluster, [victim])["MOVED"]
        users.progress(5)
        print("[cluster] CLUSTER FAILOVER:", users.assert_unharmed().summary())
        assert victim.role == "slave" and new.role == "master"
        # The victim's users did reach the demoted primary and were redirected to its successor...
        assert moved > before["MOVED"]
        # ... once: a MOVED patches the slot map, the store then goes straight to the new owner.
        assert redirect_counts(cluster, [victim])["MOVED"] == moved
        assert users.stat("failovers") >= 1


def test_resharding_under_load_follows_ask_then_moved(
    hasession_fresh_redis_cluster: ClusterTopology, crowd: Any, make_store: Any
) -> None:
    cluster = hasession_fresh_redis_cluster
    reader = make_store(cluster.url)
    with crowd(cluster.url) as users:
        asked, moved, others = users.users[:3], users.users[3:6], users.users[6:]
        users.progress(3)

        # 1. Migration begun (IMPORTING / MIGRATING, keys already on the target): the source
        #    answers ASK, and a batch is resent to the target after ASKING.
        before = redirect_counts(cluster)
        slots = [cookie_slot(reader, user.cookie) for user in asked]
        for slot in slots:
            cluster.begin_migration(slot, other_primary(cluster, slot))
        users.progress(3, users=others)  # users of the other slots keep working
        for user in asked:  # and sessions of the migrating slots can be read (ASK followed)
            assert reader.load(user.cookie)["owner"] == user.owner
        during = redirect_counts(cluster)
        assert during["ASK"] > before["ASK"] and during["ASKING"] > before["ASKING"]
        for slot in slots:
            cluster.finish_migration(slot)
        users.progress(5)

        # 2. Slots moved in one go, as `redis-cli --cluster reshard` does: users with a stale slot
        #    map get MOVED from the old owner and carry on at the new one.
        before = redirect_counts(cluster)
        for user in moved:
            slot = cookie_slot(reader, user.cookie)
            cluster.migrate_slot(slot, other_primary(cluster, slot))
        users.progress(5)
        print("[cluster] resharding (ASK, then MOVED):", users.assert_unharmed().summary())
        after = redirect_counts(cluster)
        print(f"[cluster] resharding: redirects sent/received by the servers: {after}")
        assert after["MOVED"] > before["MOVED"]


def test_sessions_of_a_migrating_slot_stay_writable(
    hasession_fresh_redis_cluster: ClusterTopology, make_store: Any
) -> None:
    cluster = hasession_fresh_redis_cluster
    client = make_store(cluster.url, retry=RetryPolicy(hold_budget=2.0))  # 10 s fails the same way, later
    migrated, pending = create(client, count=0), create(client, count=0)
    slots = {cookie_slot(client, migrated), cookie_slot(client, pending)}
    assert len(slots) == 2
    slot = cookie_slot(client, migrated)
    cluster.begin_migration(slot, other_primary(cluster, slot))
    slot = cookie_slot(client, pending)
    cluster.begin_migration(slot, other_primary(cluster, slot), keys=[])  # its keys not moved yet
    for cookie in (migrated, pending):
        session = client.load(cookie)  # single-key LOAD: served (ASK followed for `migrated`)
        assert session["count"] == 0
        session["count"] = 1
        client.save(session)
        assert client.load(cookie)["count"] == 1


def test_login_and_logout_during_primary_failover(
    hasession_fresh_redis_cluster: ClusterTopology, crowd: Any, make_store: Any
) -> None:
    """Logins go through an async store, logouts through a sync one, while the crowd works."""
    cluster = hasession_fresh_redis_cluster
    victim = cluster.primaries()[0]
    auth = make_store(cluster.url)
    logins = create_on(auth, cluster, victim, 3, cart=["book"])
    logouts = create_on(auth, cluster, victim, 3, cart=["pen"])
    for i, cookie in enumerate(logouts):  # signed in: the user index is involved in the logout
        session = auth.load(cookie)
        session.user_id = f"leaving-{i}"
        auth.save(session)
    in_flight = [auth.load(cookie) for cookie in logouts]  # requests begun before the logouts
    arriving = hasession.AsyncSessionStore.from_url(cluster.url, secret_keys=SECRET)

    async def login(i: int) -> SaveResult:
        session = await arriving.load(logins[i])
        session.cycle_id()
        session.user_id = f"arriving-{i}"
        session["signed_in"] = True
        return await arriving.save(session)

    def logout(i: int) -> SaveResult:
        session = auth.load(logouts[i])
        session.destroy()
        return auth.save(session)

    with crowd(cluster.url, place=on_victim(cluster, victim)) as users:
        try:
            users.progress(3)
            wait_replicated(cluster, victim)
            with users.fault("kill"):
                old = cluster.kill_master(victim)
                with concurrent.futures.ThreadPoolExecutor(6) as pool:  # sent while the victim is down
                    login_results = pool.map(lambda i: users.call(login(i)), range(3))
                    logout_results = pool.map(logout, range(3))
                    logged_in, logged_out = list(login_results), list(logout_results)
                cluster.wait_for_new_master(old)
            users.progress(5)
            print("[cluster] login/logout during kill -9:", users.assert_unharmed(lossy=True).summary())
        finally:
            held = auth.stats.held + arriving.stats.held
            users.call(arriving.close())
    print(f"[cluster] login/logout: held {held}")

    # Every login and logout started while the victim was dead (it is only replaced after the
    # 1 s node timeout), so each one waited for the failover, then went through.
    assert held >= 6
    for i, (old_cookie, result) in enumerate(zip(logins, logged_in, strict=True)):
        assert result.cookie == "set" and result.value not in (None, old_cookie)
        assert result.value is not None
        session = auth.load(result.value)
        assert dict(session) == {"cart": ["book"], "signed_in": True}
        assert auth.load(old_cookie).new  # the pre-login id no longer works
        public = auth.public_id(auth.load(result.value))
        assert [s.public_id for s in auth.sessions_of(f"arriving-{i}")] == [public]
    for i, (cookie, result, stale) in enumerate(zip(logouts, logged_out, in_flight, strict=True)):
        assert result.cookie == "delete"
        assert auth.load(cookie).new
        assert auth.sessions_of(f"leaving-{i}") == []
        stale["cart"] = ["resurrected?"]  # a request that loaded before the logout saves after it
        assert auth.save(stale).cookie == "delete"
        assert auth.load(cookie).new
