"""The session store on real standalone, Sentinel and Cluster topologies, sync and async."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import pytest

import hasession
from hasession import SessionPolicy
from hasession._commands import pack
from hasession._session import state_of
from hasession._transport import Pool
from hasession.testing import ClusterTopology, wait_until

from .conftest import Blocking


def create(store: Any, **data: Any) -> str:
    session = store.open(None)
    session.update(data)
    result = store.save(session)
    assert result.cookie == "set"
    return result.value  # type: ignore[no-any-return]


def test_round_trip_and_delta(store: Any) -> None:
    cookie = create(store, a=1, b={"x": [1, 2]})
    session = store.load(cookie)
    assert dict(session) == {"a": 1, "b": {"x": [1, 2]}}
    assert not session.new
    session["c"] = "three"
    del session["a"]
    assert store.save(session).cookie == "keep"
    assert dict(store.load(cookie)) == {"b": {"x": [1, 2]}, "c": "three"}


def test_in_place_mutation_is_saved(store: Any) -> None:
    cookie = create(store, cart=[1])
    session = store.load(cookie)
    session["cart"].append(2)
    assert store.save(session).wrote
    assert store.load(cookie)["cart"] == [1, 2]


def _ior(session: Any) -> None:
    session |= {"a": 2, "new": 1}


def _del(session: Any) -> None:
    del session["b"]


def _set(session: Any) -> None:
    session["a"] = 5


def _nested_set(session: Any) -> None:
    session["c"]["y"] = 2


INITIAL: dict[str, Any] = {"a": 1, "b": [1], "c": {"x": 1}}

#: Every way to change a dict, and what the store then holds.
CHANGES: dict[str, tuple[Callable[[Any], object], dict[str, Any]]] = {
    "|=": (_ior, {**INITIAL, "a": 2, "new": 1}),
    "update": (lambda s: s.update({"a": 2}, new=1), {**INITIAL, "a": 2, "new": 1}),
    "setdefault": (lambda s: s.setdefault("new", [1]), {**INITIAL, "new": [1]}),
    "setdefault existing, appended": (lambda s: s.setdefault("b", []).append(2), {**INITIAL, "b": [1, 2]}),
    "pop": (lambda s: s.pop("a"), {"b": [1], "c": {"x": 1}}),
    "popitem": (lambda s: s.popitem(), {}),  # INITIAL without the popped key (see below)
    "clear": (lambda s: s.clear(), {}),
    "del": (_del, {"a": 1, "c": {"x": 1}}),
    "[k] = v": (_set, {**INITIAL, "a": 5}),
    "list append": (lambda s: s["b"].append(2), {**INITIAL, "b": [1, 2]}),
    "nested dict set": (_nested_set, {**INITIAL, "c": {"x": 1, "y": 2}}),
    "nested value via get": (lambda s: s.get("c").update(z=[3]), {**INITIAL, "c": {"x": 1, "z": [3]}}),
}


@pytest.mark.parametrize("topology", ["standalone"], indirect=True)
@pytest.mark.parametrize(("change", "expected"), CHANGES.values(), ids=CHANGES.keys())
def test_every_way_to_change_a_session_is_saved(
    store: Any, change: Callable[[Any], object], expected: dict[str, Any]
) -> None:
    cookie = create(store, **INITIAL)
    session = store.open(cookie)
    if isinstance(store, Blocking):  # an async session must be loaded first, whatever the change
        with pytest.raises(hasession.SessionNotLoaded):
            change(session)
        store.load_into(session)
    returned = change(session)  # a sync session loads on first use
    if change is CHANGES["popitem"][0]:  # which key popitem() takes depends on the load's order
        expected = {k: v for k, v in INITIAL.items() if k != returned[0]}  # type: ignore[index]
    assert session.modified
    assert store.save(session).wrote
    assert dict(store.load(cookie)) == expected


def test_one_round_trip_to_load_and_one_to_save(store: Any) -> None:
    cookie = create(store, a=1)
    store.load(cookie)  # warm up: discovery and the canary check happen once, up front
    before = store.stats.round_trips
    session = store.load(cookie)
    assert store.stats.round_trips - before == 1
    session["a"] = 2
    store.save(session)
    assert store.stats.round_trips - before == 2


# A reply that comes 50 ms late: redis-py's check for unread data when it hands out a pooled
# connection cannot see it yet (Sentinels answer it at once with an error, which that check drops).
_LATE = """local t = redis.call('TIME'); local t0 = t[1] * 1e6 + t[2]
repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] - t0 > 50000
return 'stray'"""


async def _plant_async(pool: Pool[Any]) -> None:
    _plant(pool)


def _plant(pool: Pool[Any]) -> None:
    conn = pool.take()
    if conn is None:  # none idle
        pool.opened(None)
        return
    packed = pack([("EVAL", _LATE, 0)])
    if hasattr(conn, "_sock"):
        conn._sock.sendall(packed)
    else:
        conn._transport.write(packed)
    pool.release(conn, healthy=True)


def plant_stray_replies(store: Any) -> None:
    """Leave a late reply on a pooled connection to every node, as a read cut short would."""
    if isinstance(store, Blocking):  # on the store's loop: its connections are not thread-safe
        for pool in list(store.store._pools.values()):
            store.run(_plant_async(pool))
    else:
        for pool in list(store._pools.values()):
            _plant(pool)


def test_a_reply_left_on_a_pooled_connection_is_never_handed_on(store: Any) -> None:
    mine, other = create(store, owner="me"), create(store, owner="someone else")
    assert store.load(other)["owner"] == "someone else"
    for _ in range(3):
        plant_stray_replies(store)
        assert store.load(mine)["owner"] == "me"
    assert store.stats.retries >= 1  # the stray reply was caught (and its connection closed)


def test_untouched_session_writes_nothing(store: Any) -> None:
    cookie = create(store, a=1)
    session = store.load(cookie)
    assert session["a"] == 1
    before = store.stats.round_trips
    result = store.save(session)
    assert (result.cookie, result.wrote) == ("keep", False)
    assert store.stats.round_trips == before


def test_new_empty_session_is_not_stored(store: Any, topology: Any, dump: Any) -> None:
    session = store.open(None)
    assert session.new and session.loaded
    assert store.save(session).cookie == "keep"
    assert dump() == [] or all(b"canary" in k for k, _ in dump())


@pytest.mark.parametrize("cookie", [None, "", "garbage", "x" * 5000, "a.b", "é" * 74])
def test_bad_cookie_is_a_new_session_without_redis(store: Any, cookie: str | None) -> None:
    before = store.stats.round_trips
    session = store.load(cookie)
    assert session.new and dict(session) == {}
    assert store.stats.round_trips == before


def test_forged_signature_is_a_new_session(store: Any) -> None:
    cookie = create(store, a=1)
    forged = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    before = store.stats.round_trips
    assert store.load(forged).new
    assert store.stats.round_trips == before


def test_client_chosen_id_is_never_adopted(make_store: Any) -> None:
    store, other = make_store(), make_store(secret_keys="o" * 32)
    foreign = create(other, a=1)  # a validly shaped cookie, signed with another key
    session = store.load(foreign)
    session["b"] = 2
    result = store.save(session)
    assert result.cookie == "set" and result.value != foreign


def test_50_concurrent_requests_setting_different_keys_all_persist(store: Any) -> None:
    cookie = create(store, start=True)

    def request(i: int) -> None:
        session = store.load(cookie)
        session[f"k{i}"] = i
        store.save(session)

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        list(pool.map(request, range(50)))
    session = store.load(cookie)
    assert {f"k{i}" for i in range(50)} <= set(session)
    assert all(session[f"k{i}"] == i for i in range(50))


def test_same_key_last_writer_wins(store: Any) -> None:
    cookie = create(store, v=0)
    first, second = store.load(cookie), store.load(cookie)
    first["v"] = 1
    second["v"] = 2
    store.save(first)
    store.save(second)
    assert store.load(cookie)["v"] == 2


def test_compare_and_set_mode_detects_concurrent_update(make_store: Any) -> None:
    store = make_store(session=SessionPolicy(concurrency="cas"))
    cookie = create(store, v=0)
    first, second = store.load(cookie), store.load(cookie)
    first["v"] = 1
    store.save(first)
    second["w"] = 2
    with pytest.raises(hasession.ConcurrentUpdate):
        store.save(second)
    assert dict(store.load(cookie)) == {"v": 1}


def test_destroyed_session_cannot_be_resurrected_by_an_in_flight_request(store: Any) -> None:
    cookie = create(store, user="alice")
    in_flight = store.load(cookie)
    logout = store.load(cookie)
    logout.destroy()
    assert store.save(logout).cookie == "delete"
    in_flight["cart"] = ["book"]
    assert store.save(in_flight).cookie == "delete"
    assert store.load(cookie).new


def test_cycle_id_keeps_data_and_kills_the_old_id(store: Any, topology: Any, dump: Any) -> None:
    cookie = create(store, a=1)
    session = store.load(cookie)
    session.cycle_id()
    session["b"] = 2
    result = store.save(session)
    assert result.cookie == "set" and result.value != cookie
    assert dict(store.load(result.value)) == {"a": 1, "b": 2}
    assert store.load(cookie).new
    stale = store.load(cookie)  # the old id can't be written back to life either
    stale["x"] = 1
    assert store.save(stale).cookie != "set" or store.load(cookie).new


def test_user_index_lists_and_revokes_sessions(store: Any) -> None:
    cookies = []
    for _ in range(3):
        session = store.open(None)
        session["n"] = 1
        session.user_id = "alice"
        cookies.append(store.save(session).value)
    other = store.open(None)
    other.user_id = "bob"
    bob = store.save(other).value
    listed = store.sessions_of("alice")
    assert len(listed) == 3
    keep = store.load(cookies[0])
    assert store.revoke_user("alice", keep=keep) == 2
    assert [store.load(c).new for c in cookies] == [False, True, True]
    assert not store.load(bob).new
    assert [i.public_id for i in store.sessions_of("alice")] == [store.public_id(keep)]


def test_login_cycle_moves_the_index_entry(store: Any) -> None:
    session = store.open(None)
    session["n"] = 1
    cookie = store.save(session).value
    session = store.load(cookie)
    session.user_id = "carol"
    session.cycle_id()
    new_cookie = store.save(session).value
    [info] = store.sessions_of("carol")
    assert info.public_id == store.public_id(store.load(new_cookie))


def test_ids_are_stored_only_hashed(store: Any, topology: Any, dump: Any) -> None:
    cookie = create(store, a=1)
    secret_part = cookie.split(".")[0][8:]
    for key, value in dump():
        assert secret_part.encode() not in key
        assert secret_part.encode() not in repr(value).encode()


def test_cluster_keys_of_a_session_share_a_slot(store: Any, topology: Any, dump: Any) -> None:
    if not isinstance(topology, ClusterTopology):
        pytest.skip("slots exist on Cluster only")
    from redis.crc import key_slot

    cookie = create(store, a=1)
    session = store.load(cookie)
    session.cycle_id()
    store.save(session)
    session_keys = [k for k, _ in dump() if not k.startswith(b"hs:u:") and b"canary" not in k]
    assert len(session_keys) == 2  # new data + the old id's tombstone
    assert len({key_slot(k) for k in session_keys}) == 1


def test_encryption_at_rest_and_key_rotation(make_store: Any, topology: Any, dump: Any) -> None:
    old = make_store(encryption_keys=["e" * 32])
    cookie = create(old, card="4111-1111-1111-1111")
    # The whole card number must not be stored in clear. (Searching for "4111" alone was flaky:
    # millisecond timestamps and hex request ids in the hash contain it now and then.)
    assert all(b"4111-1111-1111-1111" not in repr(v).encode() for _, v in dump())
    rotated = make_store(encryption_keys=["e" * 32, "f" * 32])
    session = rotated.load(cookie)
    assert session["card"] == "4111-1111-1111-1111"
    session["more"] = "data"
    rotated.save(session)
    assert dict(make_store(encryption_keys=["f" * 32]).load(cookie)) == {"more": "data"}


def test_max_size_is_enforced_before_writing(make_store: Any) -> None:
    store = make_store(session=SessionPolicy(max_size=1024))
    session = store.open(None)
    session["big"] = "x" * 2000
    with pytest.raises(hasession.SessionTooLarge):
        store.save(session)


def test_idle_session_expires_in_redis(make_store: Any, dump: Any) -> None:
    store = make_store(session=SessionPolicy(idle_timeout=1, absolute_timeout=60, touch_interval=0))
    cookie = create(store, a=1)

    def session_keys() -> list[bytes]:
        return [k for k, _ in dump() if k.startswith(b"hs:{")]

    assert session_keys()
    wait_until(lambda: not session_keys(), timeout=5, message="Redis to expire the idle session")
    assert store.load(cookie).new


def test_absolute_timeout_ends_an_active_session(make_store: Any) -> None:
    store = make_store(session=SessionPolicy(idle_timeout=1, absolute_timeout=2, touch_interval=0))
    cookie = create(store, a=1)
    seen_alive = 0

    def expired_despite_activity() -> bool:
        nonlocal seen_alive
        alive = not store.load(cookie).new  # each load refreshes the 1 s idle timeout
        seen_alive += alive
        return not alive

    wait_until(expired_despite_activity, timeout=6, interval=0.2, message="absolute lifetime to end")
    assert seen_alive >= 5  # it stayed alive past its idle timeout thanks to activity


def test_sliding_refresh_is_throttled(make_store: Any) -> None:
    store = make_store(session=SessionPolicy(touch_interval=3600))
    cookie = create(store, a=1)
    session = store.load(cookie)
    assert not state_of(session).stored.touched


def test_script_cache_flush_is_transparent(store: Any, masters: list[Any]) -> None:
    cookie = create(store, a=1)
    for client in masters:
        client.script_flush()
    assert store.load(cookie)["a"] == 1


def test_saving_the_same_session_twice_writes_only_the_newer_change(store: Any) -> None:
    session = store.open(None)
    session["a"] = 1
    first = store.save(session)
    session["b"] = 2
    second = store.save(session)
    assert second.cookie == "keep"
    assert second.value == first.value  # the same session, not a second one
    assert dict(store.load(first.value)) == {"a": 1, "b": 2}
    session.cycle_id()
    third = store.save(session)
    assert third.cookie == "set"
    assert dict(store.load(third.value)) == {"a": 1, "b": 2}
    session.destroy()
    assert store.save(session).cookie == "delete"
    assert store.load(third.value).new


def test_a_destroyed_session_leaves_a_single_key_tombstone(store: Any, dump: Any) -> None:
    cookie = create(store, a=1)
    session = store.load(cookie)
    session.destroy()
    store.save(session)
    [value] = [v for k, v in dump() if k.startswith(b"hs:{")]
    assert value == {b"@d": b"1"}


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_replicated_loads_are_refused_by_a_master_without_its_replicas(
    hasession_redis_server: Any, driver: str
) -> None:
    """A master cut off from its replicas (a partition, a failover it missed) may be stale: in
    ``replicated`` durability it serves no load; in ``async`` durability it does."""
    from .conftest import SECRET

    def make(mode: str) -> Any:
        durability = hasession.DurabilityPolicy(mode=mode, replicas=1)  # type: ignore[arg-type]
        store = hasession.SessionStore if driver == "sync" else hasession.AsyncSessionStore
        built = store.from_url(hasession_redis_server.url, secret_keys=SECRET, durability=durability)
        return built if driver == "sync" else Blocking(built)

    admin = hasession_redis_server.client()
    admin.flushall()
    fast, durable = make("async"), make("replicated")
    try:
        cookie = create(fast, owner="me")
        admin.config_set("min-replicas-to-write", 1)
        try:
            assert fast.load(cookie)["owner"] == "me"
            with pytest.raises(hasession.StoreUnavailable) as caught:
                durable.load(cookie, budget=0.3)
            assert "NOREPLICAS" in str(caught.value.attempts[0].error)
        finally:
            admin.config_set("min-replicas-to-write", 0)
        assert durable.load(cookie)["owner"] == "me"
    finally:
        fast.close()
        durable.close()
