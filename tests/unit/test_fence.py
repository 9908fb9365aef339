"""The version fence (hasession/_fence.py) and the load flow that uses it, driven by hand."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import pytest

from hasession._cluster import SLOTS, ClusterRouter
from hasession._codec import Codec
from hasession._commands import Batch, Degraded, Flow
from hasession._config import DurabilityPolicy, Secret, SessionPolicy
from hasession._fence import VersionFence
from hasession._flows import SessionFlows, _context
from hasession._ids import IdCodec, SessionId
from hasession._keys import KeySchema
from hasession._routing import Discover, Send, StandaloneRouter
from hasession._sentinel_router import SentinelRouter
from hasession._session import Session, state_of
from hasession._store import Stats
from hasession._topology import Address

from ._flows import drive as drive_batches

T = TypeVar("T")
NOW = 1_700_000_000_000
EXPIRES = NOW + 3_600_000


# -- the component ----------------------------------------------------------------------------------


def test_it_remembers_the_newest_version_only() -> None:
    fence = VersionFence()
    assert fence.floor("k") == -1
    fence.saw("k", 4)
    fence.saw("k", 2)  # an older read does not lower what was acknowledged
    assert fence.floor("k") == 4
    fence.saw("k", 5)
    assert fence.floor("k") == 5
    fence.forget("k")
    assert fence.floor("k") == -1


def test_it_keeps_the_most_recently_written_sessions() -> None:
    fence = VersionFence(size=2)
    fence.saw("a", 1)
    fence.saw("b", 1)
    fence.saw("a", 2)  # a is written again: b is now the oldest entry
    fence.saw("c", 1)
    assert (fence.floor("a"), fence.floor("b"), fence.floor("c")) == (2, -1, 1)
    assert len(fence) == 2


def test_it_counts_in_the_stats_it_is_given() -> None:
    stats = Stats()
    fence = VersionFence(stats)
    fence.saw("k", 7)
    fence.stale()
    fence.lost("k", "tag.hash", 5, 7)
    assert (stats.stale_loads, stats.lost_versions) == (1, 1)
    assert fence.floor("k") == -1


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        VersionFence(size=0)


# -- the load flow ------------------------------------------------------------------------------------


def make_ctx(**durability: Any) -> tuple[SessionFlows, Stats]:
    stats = Stats()
    ctx = SessionFlows(
        ids=IdCodec([Secret("k" * 32)]),
        keys=KeySchema(),
        codec=Codec(()),
        policy=SessionPolicy(),
        durability=DurabilityPolicy(**durability),
        fence=VersionFence(stats),
    )
    return ctx, stats


def stored_hash(ctx: SessionFlows, sid: SessionId, count: int, version: int) -> list[bytes]:
    meta = {"@c": NOW - 1000, "@v": version, "@x": EXPIRES, "@t": NOW - 10, "@r": "earlier"}
    flat = [part for name, value in meta.items() for part in (name.encode(), str(value).encode())]
    return [*flat, b".count", ctx.codec.encode(count, context=_context(sid.tag, "count"))]


def drive(flow: Flow[T], *replies: Any) -> tuple[list[Batch], T]:
    """:func:`tests.unit._flows.drive`, each batch answered by one reply."""
    return drive_batches(flow, *([reply] for reply in replies))


def saved(ctx: SessionFlows, sid: SessionId, version: int) -> None:
    """Load ``sid`` at ``version - 1`` and save it: the script answers ``version``."""
    _, stored = drive(ctx.load(sid, NOW), stored_hash(ctx, sid, 1, version - 1))
    session = Session(sid)
    state_of(session).fill(stored)
    session["count"] = 2
    drive(ctx.save(state_of(session), NOW, "rid"), [b"OK", str(version).encode()])


def test_a_load_of_an_acknowledged_version_is_one_round_trip() -> None:
    ctx, stats = make_ctx()
    sid = ctx.ids.new()
    saved(ctx, sid, 5)
    batches, stored = drive(ctx.load(sid, NOW), stored_hash(ctx, sid, 2, 5))
    assert len(batches) == 1 and not batches[0].refresh
    assert stored is not None and stored.version == 5
    assert stats.stale_loads == 0


def test_an_older_version_is_read_again_after_forgetting_the_node() -> None:
    ctx, stats = make_ctx()
    sid = ctx.ids.new()
    saved(ctx, sid, 5)
    batches, stored = drive(ctx.load(sid, NOW), stored_hash(ctx, sid, 1, 4), stored_hash(ctx, sid, 2, 5))
    assert [b.refresh for b in batches] == [False, True]
    assert batches[1].commands == batches[0].commands and batches[1].route == batches[0].route
    assert stored is not None and (stored.version, stored.data["count"]) == (5, 2)
    assert (stats.stale_loads, stats.lost_versions) == (1, 0)


def test_an_older_version_served_by_the_new_master_too_is_taken_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx, stats = make_ctx()
    sid = ctx.ids.new()
    saved(ctx, sid, 5)
    with caplog.at_level(logging.WARNING, logger="hasession"):
        batches, stored = drive(ctx.load(sid, NOW), stored_hash(ctx, sid, 1, 4), stored_hash(ctx, sid, 1, 4))
    assert len(batches) == 2
    assert stored is not None and stored.version == 4
    assert (stats.stale_loads, stats.lost_versions) == (1, 1)
    public = ctx.keys.public_id(sid)
    assert any(public in r.getMessage() and "version 4" in r.getMessage() for r in caplog.records)
    # forgotten, then relearned from that load: the next load of version 4 is one round trip
    batches, _ = drive(ctx.load(sid, NOW), stored_hash(ctx, sid, 1, 4))
    assert len(batches) == 1 and stats.stale_loads == 1


def test_a_session_missing_on_the_master_found_anew_is_not_found() -> None:
    ctx, _ = make_ctx()
    sid = ctx.ids.new()
    saved(ctx, sid, 5)
    _, stored = drive(ctx.load(sid, NOW), stored_hash(ctx, sid, 1, 4), None)
    assert stored is None
    assert ctx.fence.floor(ctx.keys.data(sid)) == -1


def test_a_save_acknowledged_while_the_load_was_in_flight_does_not_count() -> None:
    """Two requests of one user: the load began before the other's save was acknowledged."""
    ctx, stats = make_ctx()
    sid = ctx.ids.new()
    saved(ctx, sid, 5)
    flow = ctx.load(sid, NOW)
    batch = next(flow)
    ctx.fence.saw(ctx.keys.data(sid), 6)  # the other request's save, acknowledged meanwhile
    with pytest.raises(StopIteration) as stop:
        flow.send([stored_hash(ctx, sid, 2, 5)])
    assert not batch.refresh
    assert stop.value.value.version == 5
    assert stats.stale_loads == 0


def test_a_replica_answer_is_not_fenced() -> None:
    """Degraded reads are stale by contract (``StoreConfig.degraded_reads``)."""
    ctx, stats = make_ctx()
    sid = ctx.ids.new()
    saved(ctx, sid, 5)
    batches, stored = drive(ctx.load(sid, NOW), Degraded(stored_hash(ctx, sid, 1, 4)))
    assert len(batches) == 1 and stored is not None and stored.degraded
    assert stats.stale_loads == 0 and ctx.fence.floor(ctx.keys.data(sid)) == 5


def test_versions_are_learned_from_loads_and_saves_and_forgotten_on_revoke() -> None:
    ctx, _ = make_ctx(mode="replicated")
    sid = ctx.ids.new()
    key = ctx.keys.data(sid)
    drive(ctx.load(sid, NOW), stored_hash(ctx, sid, 1, 3))
    assert ctx.fence.floor(key) == 3
    saved(ctx, sid, 8)
    assert ctx.fence.floor(key) == 8
    drive(ctx.revoke(ctx.keys.public_id(sid), None), 1)
    assert ctx.fence.floor(key) == -1


def test_a_new_session_and_a_cycled_id_are_remembered_under_their_key() -> None:
    ctx, _ = make_ctx()
    session = Session(None)
    state_of(session).fill(None)
    session["count"] = 1
    drive(ctx.save(state_of(session), NOW, "rid"), [b"OK", b"1"])
    sid = state_of(session).sid
    assert sid is not None and ctx.fence.floor(ctx.keys.data(sid)) == 1
    session.cycle_id()
    drive(ctx.save(state_of(session), NOW, "rid2"), [b"OK", b"2"])
    new = state_of(session).sid
    assert new is not None and new != sid
    assert ctx.fence.floor(ctx.keys.data(sid)) == -1
    assert ctx.fence.floor(ctx.keys.data(new)) == 2


# -- what a refresh batch makes each router do ------------------------------------------------------------


def test_a_sentinel_router_looks_for_the_master_again_and_drops_the_stale_one() -> None:
    master = Address("10.0.0.1", 6379)
    router = SentinelRouter((Address("10.0.1.1", 26379),), "mymaster")
    router.discovered((master, -1, -1), 1.0)
    router.suspect("k", 2.0)
    assert isinstance(router.plan(Batch((), route="k"), 2.0), Discover)
    assert router.stale() == (master,)


def test_a_cluster_router_refreshes_its_slot_map_and_drops_the_slot_owner() -> None:
    owner = Address("10.0.0.1", 7000)
    router = ClusterRouter((owner,))
    router.discovered(((0, SLOTS - 1, owner),), 1.0)
    router.suspect("k", 2.0)
    assert isinstance(router.plan(Batch((), route="k"), 2.0), Discover)
    assert router.stale() == (owner,)


def test_a_standalone_router_drops_its_connections_once() -> None:
    address = Address("10.0.0.1", 6379)
    router = StandaloneRouter(address)
    assert router.stale() == ()
    router.suspect("k", 1.0)
    assert router.stale() == (address,)
    assert router.stale() == ()
    assert router.plan(Batch((), route="k"), 1.0) == Send(address)
