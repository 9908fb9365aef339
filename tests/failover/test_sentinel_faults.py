"""The Sentinel faults of docs/design.md, *Faults the tests inject*, on real topologies, under load.

Every test asserts what the users (``conftest.crowd``) saw: errors that would reach the framework,
sessions lost, acknowledged writes lost, writes applied twice. Timings are printed (run with ``-s``),
never asserted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import hasession
from hasession import DurabilityPolicy, RetryPolicy
from hasession.testing import RedisServer, SentinelTopology, wait_until
from hasession.testing.pytest_plugin import sentinel_fixture

pytestmark = pytest.mark.slow

# min-replicas-to-write bounds how long an isolated old master accepts writes (docs/design.md, *Durability*).
REPLICATED = {"min-replicas-to-write": "1", "min-replicas-max-lag": "2", "appendonly": "yes"}

replicated_sentinel = sentinel_fixture(scope="function", redis_config=REPLICATED)
proxied_sentinel = sentinel_fixture(scope="function", proxied=True, redis_config=REPLICATED)
patient_sentinel = sentinel_fixture(scope="function", down_after_ms=5000)


def test_kill_master(hasession_redis_sentinel: SentinelTopology, crowd: Any) -> None:
    topology = hasession_redis_sentinel
    with crowd(topology.url) as users:
        topology.wait_for_replicas_synced()
        with users.fault("kill"):
            old = topology.kill_master()
            topology.wait_for_new_master(old)
        users.progress(5)
        # Replication is asynchronous: a write the old master acknowledged in its last moment may
        # not have reached the replica that gets promoted. At most one per request in flight.
        print("kill -9:", users.assert_unharmed(lossy=True).summary())
        assert users.main.sync.stats.failovers >= 1 and users.main.asyncs.stats.failovers >= 1


def test_kill_master_loses_no_acknowledged_write_when_replicated(
    replicated_sentinel: SentinelTopology, crowd: Any
) -> None:
    topology = replicated_sentinel
    with crowd(topology.url, durability=DurabilityPolicy(mode="replicated", replicas=1)) as users:
        topology.wait_for_replicas_synced()
        with users.fault("kill"):
            old = topology.kill_master()
            topology.wait_for_new_master(old)
        users.progress(5)
        print("kill -9, replicated:", users.assert_unharmed().summary())


def test_sigstop_longer_than_down_after(hasession_redis_sentinel: SentinelTopology, crowd: Any) -> None:
    topology = hasession_redis_sentinel
    with crowd(topology.url) as users:
        topology.wait_for_replicas_synced()
        with users.fault("pause-long"):
            old = topology.pause_master()
            topology.wait_for_new_master(old)
            users.progress(5)
            topology.resume_master()  # both answer ROLE=master until Sentinel demotes the old one
            users.progress(5)
            topology.wait_for_replica(old)
        users.progress(5)
        print("SIGSTOP > down-after:", users.assert_unharmed(lossy=True).summary())


def test_sigstop_shorter_than_down_after(patient_sentinel: SentinelTopology, crowd: Any) -> None:
    with crowd(patient_sentinel.url + "?socket_timeout=0.2") as users:
        with users.fault("pause-short"):
            master = patient_sentinel.pause_master()
            wait_until(
                lambda: users.stat("retries") > 0,
                timeout=10,
                message="requests to time out on the frozen master",
            )
            patient_sentinel.resume_master()
        users.progress(5)
        print("SIGSTOP < down-after:", users.assert_unharmed().summary())
    assert patient_sentinel.current_master() == master  # no failover: the freeze was only latency


def test_sentinel_failover(hasession_redis_sentinel: SentinelTopology, crowd: Any) -> None:
    topology = hasession_redis_sentinel
    with crowd(topology.url) as users:
        topology.wait_for_replicas_synced()
        with users.fault("sentinel-failover"):
            topology.failover()
        users.progress(5)
        # hasession stops writing to the old master when Sentinel announces the switch, but writes it
        # acknowledged just before may not have reached the promoted replica (redis/redis#6062).
        print("SENTINEL FAILOVER:", users.assert_unharmed(lossy=True).summary())


def _watching(topology: SentinelTopology) -> bool:
    """Every Sentinel has a client subscribed to a pattern (the store's watchers)."""
    return all(
        any(int(c.get("psub", 0)) > 0 for c in node.client().client_list()) for node in topology.sentinels
    )


def test_the_failover_fence_does_not_wait_for_a_busy_event_loop(
    hasession_redis_sentinel: SentinelTopology,
) -> None:
    """Writes must stop going to the old master on the failover's first events, even while the
    app's event loop is too busy to run anything: the watchers are threads."""
    from hasession._sentinel import State

    async def main() -> tuple[object, object]:
        store = hasession.AsyncSessionStore.from_url(hasession_redis_sentinel.url, secret_keys="f" * 32)
        try:
            first = store.open(None)
            first["a"] = 1
            await store.save(first)  # the master is known and the watchers started
            old = store._router.view.address  # type: ignore[attr-defined]
            wait_until(
                lambda: _watching(hasession_redis_sentinel), timeout=10, message="the watchers to subscribe"
            )
            fenced: list[object] = []

            def fail_over() -> None:
                hasession_redis_sentinel.failover()
                view = lambda: store._router.view  # type: ignore[attr-defined]  # noqa: E731
                wait_until(
                    lambda: view().state is not State.KNOWN or view().address != old,
                    timeout=10,
                    message="the router to stop sending to the old master",
                )
                fenced.append(view())

            thread = threading.Thread(target=fail_over)
            thread.start()
            thread.join(30)  # blocks the event loop: no task runs until the failover is over
            return old, fenced[0] if fenced else None
        finally:
            await store.close()

    old, fenced = asyncio.run(main())
    assert fenced is not None, "the fence waited for the event loop"
    assert getattr(fenced, "address", None) != old


@pytest.mark.parametrize("mode", ["async", "replicated"])
def test_switchover_loses_nothing(
    replicated_sentinel: SentinelTopology, make_store: Any, crowd: Any, mode: str
) -> None:
    """A fresh operator store switches over at once, in either durability (in replicated
    durability it first needs the Sentinels' read lease: chaos finding 6 hung there forever)."""
    topology = replicated_sentinel
    durability = DurabilityPolicy(mode=mode, replicas=1)  # type: ignore[arg-type]
    operator = make_store(topology.url, durability=durability)
    with crowd(topology.url, durability=durability) as users:
        topology.wait_for_replicas_synced()
        old = topology.current_master()
        with users.fault("switchover"):
            result = operator.switchover()
        users.progress(5)
        label = f"switchover (writes paused {result.paused_seconds * 1000:.0f} ms)"
        print(label, users.assert_unharmed().summary())
    new = topology.wait_for_new_master(old)  # the Sentinels agree a moment later
    assert (result.new.host, result.new.port) == new.address


def test_minority_of_sentinels_down(hasession_redis_sentinel: SentinelTopology, crowd: Any) -> None:
    topology = hasession_redis_sentinel
    with crowd(topology.url) as users:
        topology.kill_sentinel(0)  # the first one the store asks
        users.progress(5)
        topology.wait_for_replicas_synced()
        with users.fault("kill"):
            old = topology.kill_master()
            topology.wait_for_new_master(old)
        users.progress(5)
        print("minority of Sentinels down, then kill -9:", users.assert_unharmed(lossy=True).summary())


def test_all_sentinels_down_keeps_serving(
    hasession_redis_sentinel: SentinelTopology, make_store: Any, crowd: Any
) -> None:
    topology = hasession_redis_sentinel
    stranger = make_store(topology.url, retry=RetryPolicy(hold_budget=0.5))
    with crowd(topology.url) as users:
        for i in range(len(topology.sentinels)):
            topology.kill_sentinel(i)
        users.progress(5)
        for store in (users.main.sync, users.main.asyncs):  # force a lookup
            with store._guard:
                store._router.apply(hasession._sentinel.Lost(store._router.view.address), time.monotonic())
        users.progress(5)  # found again through the last known master, after ROLE
        print("all Sentinels down:", users.assert_unharmed().summary())
    with pytest.raises(hasession.StoreUnavailable) as caught:  # nobody to ask, nothing known
        stranger.load(users.users[0].cookie)
    assert isinstance(caught.value.__cause__, hasession.MasterNotFound)


def test_replicated_reads_need_a_majority_of_sentinels(
    replicated_sentinel: SentinelTopology, make_store: Any, crowd: Any
) -> None:
    """In replicated durability a master is read only while enough Sentinels vouch for it: a
    process cut off from them cannot tell whether the others have promoted a replica. Async
    durability keeps serving from the last known master."""
    topology = replicated_sentinel
    durable = make_store(
        topology.url,
        durability=DurabilityPolicy(mode="replicated", replicas=1),
        retry=RetryPolicy(hold_budget=0.5),
    )
    fast = make_store(topology.url)
    cookie = str(durable.save(_with(durable, owner="me")).value)
    assert durable.load(cookie)["owner"] == "me"
    topology.kill_sentinel(0)
    assert durable.load(cookie)["owner"] == "me"  # two of three still vouch
    topology.kill_sentinel(1)  # their vouches run out within down-after-milliseconds
    wait_until(lambda: not _loads(durable, cookie), timeout=10, message="the lease to lapse")
    with pytest.raises(hasession.StoreUnavailable):  # held, then fails closed
        durable.load(cookie)
    assert fast.load(cookie)["owner"] == "me"
    topology.restart_sentinel(1)
    wait_until(lambda: _loads(durable, cookie), timeout=15, message="the lease to come back")


def _with(store: Any, **data: Any) -> Any:
    session = store.open(None)
    session.update(data)
    return session


def _loads(store: Any, cookie: str) -> bool:
    try:
        return bool(store.load(cookie)["owner"] == "me")
    except hasession.StoreUnavailable:
        return False


def test_partitioned_master_loses_no_acknowledged_write(
    proxied_sentinel: SentinelTopology, make_store: Any, crowd: Any
) -> None:
    topology = proxied_sentinel
    durable = DurabilityPolicy(mode="replicated", replicas=1)
    host, port = topology.master_direct_address()
    minority = make_store(f"redis://{host}:{port}/0", durability=durable, retry=RetryPolicy(hold_budget=3))
    with crowd(topology.url, durability=durable) as users:
        topology.wait_for_replicas_synced()
        with users.fault("partition"):
            old = topology.partition_master()
            stranded = minority.open(None)
            stranded["written"] = "on the isolated master"
            with pytest.raises(hasession.StoreUnavailable):  # never acknowledged: WAIT can't be satisfied
                minority.save(stranded)
            topology.wait_for_new_master(old)
            users.progress(5)
            topology.heal()
            topology.wait_for_replica(old)
        users.progress(5)
        print("master partitioned away, replicated:", users.assert_unharmed().summary())


def test_restart_with_empty_data_is_detected(
    make_store: Any, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    with RedisServer(tmpdir=tmp_path) as server:
        store = make_store(server.url, retry=RetryPolicy(hold_budget=5))
        session = store.open(None)
        session["a"] = 1
        cookie = store.save(session).value
        server.restart(empty=True)
        wait_until(
            lambda: store.load(cookie).new and store.stats.data_resets == 1,
            timeout=15,
            message="the store to notice that Redis lost its data",
        )
    assert "lost all its data" in caplog.text


def test_slow_responses_are_retried_without_duplicates(
    patient_sentinel: SentinelTopology, crowd: Any
) -> None:
    master = patient_sentinel.current_master().client(socket_timeout=10)
    with crowd(patient_sentinel.url + "?socket_timeout=0.2") as users:
        before = users.stat("retries")
        threading.Thread(target=master.execute_command, args=("DEBUG", "SLEEP", "0.8")).start()
        wait_until(lambda: users.stat("retries") > before, timeout=10, message="timeouts on the slow master")
        users.progress(5)
        master.config_set("busy-reply-threshold", 50)
        busy = "local t = redis.call('TIME'); repeat until redis.call('TIME')[1] - t[1] >= 1; return 1"
        threading.Thread(target=master.eval, args=(busy, 0)).start()
        wait_until(lambda: users.stat("retries") > before + 20, timeout=10, message="BUSY replies")
        users.progress(5)
        # No write applied twice: the checker finds no value that no request wrote (phantom-write).
        print("slow responses and BUSY:", users.assert_unharmed().summary())


def test_noscript_after_script_cache_loss(hasession_redis_sentinel: SentinelTopology, crowd: Any) -> None:
    master = hasession_redis_sentinel.current_master().client()
    with crowd(hasession_redis_sentinel.url) as users:
        for _ in range(3):
            master.script_flush()
            users.progress(2)
        users.assert_unharmed()
    assert master.info("commandstats")["cmdstat_eval"]["calls"] >= 1  # NOSCRIPT led to EVAL


def test_degraded_reads_answer_from_a_replica_while_no_master_is_known(
    hasession_redis_sentinel: SentinelTopology, make_store: Any
) -> None:
    store = make_store(hasession_redis_sentinel.url, degraded_reads=5.0)
    writer = make_store(hasession_redis_sentinel.url)
    cookies = []
    for i in range(5):
        session = writer.open(None)
        session["n"] = i
        cookies.append(writer.save(session).value)
    hasession_redis_sentinel.wait_for_replicas_synced()
    seen: list[tuple[int, int, bool]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader(i: int) -> None:
        while not stop.is_set():
            try:
                session = store.load(cookies[i])
                seen.append((i, session["n"], session.degraded))
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    try:
        old = hasession_redis_sentinel.kill_master()
        wait_until(lambda: store.stats.replica_loads > 0, timeout=20, message="a read served by a replica")
        hasession_redis_sentinel.wait_for_new_master(old)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    print(f"degraded reads: {store.stats.replica_loads}, max hold {store.stats.max_hold_seconds:.3f}s")
    assert errors == []
    assert all(n == i for i, n, _ in seen)  # a replica's answer is the session's data
    assert any(degraded for _, _, degraded in seen)


def test_held_operations_are_bounded_and_the_rest_fail_fast(make_store: Any, tmp_path: Any) -> None:
    with RedisServer(tmpdir=tmp_path) as server:
        store = make_store(server.url, retry=RetryPolicy(hold_budget=3.0, max_held=1))
        session = store.open(None)
        session["a"] = 1
        cookie = store.save(session).value
        server.kill()
        outcomes: list[BaseException] = []

        def held() -> None:
            try:
                store.load(cookie)
            except hasession.StoreUnavailable as exc:
                outcomes.append(exc)

        first = threading.Thread(target=held)
        first.start()
        wait_until(lambda: store._held == 1, timeout=5, message="the first operation to be held")
        with pytest.raises(hasession.StoreUnavailable, match="too many operations held"):
            store.load(cookie)  # refused at once: the hold is full
        assert first.is_alive()  # the held one is still waiting for Redis
        first.join(10)
    assert store.stats.shed == 1
    assert len(outcomes) == 1  # the held one ran out of budget, as a 503 would
