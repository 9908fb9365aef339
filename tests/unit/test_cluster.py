"""Cluster routing: the slot map, MOVED / ASK, and which node is asked for a new map."""

from __future__ import annotations

from typing import Any

import pytest
from redis.crc import key_slot

from hasession._cluster import SLOTS, ClusterRouter, parse_slots, refresh
from hasession._commands import Batch, Call, Flow
from hasession._config import Secret
from hasession._exceptions import (
    FailoverInProgress,
    MasterNotFound,
    StoreConnectionError,
    StoreError,
    StoreMisconfigured,
    StoreTimeout,
)
from hasession._ids import IdCodec
from hasession._keys import KeySchema
from hasession._routing import Discover, Redirected, Send, error_from_reply
from hasession._topology import Address

from ._play import play

N1, N2, N3, N4 = (Address("127.0.0.1", port) for port in (7000, 7001, 7002, 7003))
SEEDS = (N1, N2)

# CLUSTER SLOTS as redis-py returns it in RESP2: [first, last, [host, port, id, ...], replicas...]
SLOTS_REPLY: list[Any] = [
    [0, 5460, [b"127.0.0.1", 7000, b"id1", []], [b"127.0.0.1", 7010, b"id1r", []]],
    [5461, 10922, [b"127.0.0.1", 7001, b"id2", []]],
    [10923, 16383, ["127.0.0.1", 7002, "id3"]],
]
MAP = ((0, 5460, N1), (5461, 10922, N2), (10923, 16383, N3))
KEYS = KeySchema()
CODEC = IdCodec([Secret("k" * 32)])


def owner(slot: int, ranges: tuple[tuple[int, int, Address], ...] = MAP) -> Address:
    return next(node for first, last, node in ranges if first <= slot <= last)


def batch_for(key: str) -> Batch:
    return Batch((Call(("GET", key)),), route=key)


def ready(ranges: tuple[tuple[int, int, Address], ...] = MAP) -> ClusterRouter:
    router = ClusterRouter(SEEDS)
    router.discovered(ranges, 0.0)
    return router


def run_refresh(flow: Flow[Any], answers: dict[Address, Any]) -> tuple[list[Address], Any]:
    """Drive a refresh; a node missing from ``answers`` is down."""
    asked: list[Address] = []

    def answer(batch: Batch) -> Any:
        assert batch.commands == (Call(("CLUSTER", "SLOTS")),) and batch.node is not None
        asked.append(batch.node)
        reply = answers.get(batch.node, StoreConnectionError("refused"))
        return reply if isinstance(reply, StoreError) else [reply]

    return asked, play(flow, answer)


def test_parse_slots() -> None:
    assert parse_slots(SLOTS_REPLY) == MAP
    assert parse_slots([]) == ()


def test_a_new_router_asks_the_seeds_for_the_map() -> None:
    router = ClusterRouter(SEEDS)
    plan = router.plan(batch_for("k"), 0.0)
    assert isinstance(plan, Discover)
    asked, ranges = run_refresh(plan.flow, {N2: SLOTS_REPLY})
    assert asked == [N1, N2]
    assert ranges == MAP
    router.discovered(ranges, 0.0)
    assert router.plan(batch_for("k"), 0.0) == Send(owner(key_slot(b"k")))


def test_refresh_skips_nodes_with_an_empty_map() -> None:
    asked, ranges = run_refresh(refresh((N1, N2, N3)), {N1: [], N2: StoreTimeout("slow"), N3: SLOTS_REPLY})
    assert asked == [N1, N2, N3]
    assert ranges == MAP


def test_no_node_answering_is_master_not_found() -> None:
    asked, ranges = run_refresh(refresh(SEEDS), {})
    assert (asked, ranges) == ([N1, N2], None)
    with pytest.raises(MasterNotFound):
        ClusterRouter(SEEDS).discovered(None, 0.0)


@pytest.mark.parametrize("key", ["a", "b", "foo", "{user1000}.following", "hs:u:{x}", "", "z" * 300])
def test_batches_go_to_the_owner_of_their_slot(key: str) -> None:
    assert ready().plan(batch_for(key), 0.0) == Send(owner(key_slot(key.encode())))


def test_every_key_of_a_session_goes_to_one_node() -> None:
    router = ready()
    for _ in range(20):
        sid = CODEC.new()
        cycled = CODEC.cycle(sid)
        keys = [KEYS.data(sid), KEYS.data(cycled)]
        assert len({router.plan(batch_for(k), 0.0) for k in keys}) == 1


def test_moved_patches_the_slot_and_forces_a_refresh() -> None:
    router = ready()
    key = "some-key"
    slot = key_slot(key.encode())
    moved = error_from_reply(f"MOVED {slot} {N4.host}:{N4.port}")
    assert isinstance(moved, Redirected)
    router.failed(owner(slot), moved, 1.0)
    assert router._owner[slot] == N4
    plan = router.plan(batch_for(key), 1.0)
    assert isinstance(plan, Discover)
    asked, _ = run_refresh(plan.flow, {})
    assert N4 in asked  # the node MOVED named is now a candidate for the new map
    new_map = ((0, 16383, N4),)
    router.discovered(new_map, 1.0)
    assert router.plan(batch_for(key), 1.0) == Send(N4)


def test_ask_does_not_change_the_map() -> None:
    router = ready()
    key = "some-key"
    slot = key_slot(key.encode())
    ask = error_from_reply(f"ASK {slot} {N4.host}:{N4.port}")
    router.failed(owner(slot), ask, 1.0)
    assert router.plan(batch_for(key), 1.0) == Send(owner(slot))
    assert router._owner[slot] == owner(slot)


@pytest.mark.parametrize(
    "error",
    [StoreConnectionError("reset"), StoreTimeout("timed out"), FailoverInProgress("CLUSTERDOWN")],
    ids=type,
)
def test_a_failed_node_is_asked_last(error: StoreError) -> None:
    router = ready()
    router.failed(N1, error, 1.0)
    plan = router.plan(batch_for("k"), 1.0)
    assert isinstance(plan, Discover)
    asked, ranges = run_refresh(plan.flow, {})
    assert asked == [N2, N3, N1]  # known primaries, then seeds (deduplicated), the suspect last
    assert ranges is None


def test_a_good_map_clears_the_suspect() -> None:
    router = ready()
    router.failed(N1, StoreConnectionError("reset"), 1.0)
    router.discovered(MAP, 2.0)
    router.failed(N2, StoreConnectionError("reset"), 3.0)
    plan = router.plan(batch_for("k"), 3.0)
    assert isinstance(plan, Discover)
    asked, _ = run_refresh(plan.flow, {})
    assert asked == [N1, N3, N2]


def test_the_generation_moves_when_the_primaries_change() -> None:
    router = ClusterRouter(SEEDS)
    router.discovered(MAP, 0.0)
    assert router.generation == 1
    assert router.stale() == ()
    router.discovered(MAP, 1.0)
    assert router.generation == 1
    failed_over = ((0, 5460, N4), (5461, 10922, N2), (10923, 16383, N3))
    router.discovered(failed_over, 2.0)
    assert router.generation == 2
    assert router.stale() == (N1,)
    assert router.stale() == ()
    assert router.plan(batch_for("a"), 2.0) == Send(owner(key_slot(b"a"), failed_over))


def test_the_map_covers_every_slot() -> None:
    router = ready()
    assert len({router.plan(batch_for(str(i)), 0.0) for i in range(2000)}) == 3
    assert SLOTS == 16384


def test_refresh_raises_a_refusal_when_no_node_answers() -> None:
    refused = StoreMisconfigured("WRONGPASS", cause="auth")
    with pytest.raises(StoreMisconfigured) as caught:
        run_refresh(refresh((N1, N2, N3)), {N1: refused, N2: StoreTimeout("slow")})  # N3 down
    assert caught.value is refused


def test_refresh_skips_a_refusing_node_when_another_answers() -> None:
    refused = StoreMisconfigured("NOPERM", cause="acl")
    _, ranges = run_refresh(refresh((N1, N2)), {N1: refused, N2: SLOTS_REPLY})
    assert ranges == MAP
