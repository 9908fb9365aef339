"""The sans-IO flows but ``save``, driven by hand: canned replies in, the exact batches out.

Each test plays Redis: it sends the flow the replies a server would give (already settled by
``Batch.settle``, as the drivers do) and checks every batch the flow yields (helpers:
``_flows.py``; ``save``: ``test_flows_save.py``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from hasession._codec import Codec
from hasession._commands import Batch, Call, Degraded, Eval
from hasession._config import DurabilityPolicy, Secret, SessionPolicy
from hasession._flows import SessionFlows, _context, _split
from hasession._ids import IdCodec
from hasession._keys import KeySchema
from hasession._results import SessionInfo
from hasession._scripts import CANARY, DESTROY, LOAD
from hasession._session import Session, state_of

from ._flows import (
    EXPIRES,
    IDLE_MS,
    NOW,
    OK,
    POLICY,
    RID,
    Reply,
    drive,
    index_of,
    loaded,
    make_ctx,
    public,
    save_args,
    stored_hash,
)

# -- load ------------------------------------------------------------------------------------


def test_load_is_one_batch_with_one_evalsha_of_load() -> None:
    ctx = make_ctx()
    sid = ctx.ids.new()
    key = ctx.keys.data(sid)
    batches, stored = drive(ctx.load(sid, NOW), [stored_hash(ctx, sid, {"a": 1}, user="alice")])
    (batch,) = batches
    assert batch.commands == (Eval(LOAD, (key,), (NOW, IDLE_MS, POLICY.touch_interval * 1000)),)
    assert batch.route == key
    assert batch.node is None
    assert batch.wait_replicas == 0  # its only write is the TTL touch: never slowed by WAIT
    assert batch.wire() == [("EVALSHA", LOAD.sha, 1, key, NOW, IDLE_MS, POLICY.touch_interval * 1000)]
    assert stored is not None
    assert (stored.data, stored.user_id, stored.version, stored.expires_ms) == ({"a": 1}, "alice", 3, EXPIRES)
    assert stored.created_ms == NOW - 86_400_000


def test_load_offers_a_replica_read_as_fallback_only_with_degraded_reads() -> None:
    ctx = make_ctx()
    sid = ctx.ids.new()
    key = ctx.keys.data(sid)
    (batch,), _ = drive(ctx.load(sid, NOW), [None])
    assert batch.fallback is None  # built on each load: only when the store may use it
    ctx = dataclasses.replace(ctx, degraded_reads=True)
    (batch,), _ = drive(ctx.load(sid, NOW), [None])
    fallback = batch.fallback
    assert fallback is not None
    assert fallback.commands == (Call(("HGETALL", key)),)
    assert (fallback.route, fallback.write, fallback.degraded) == (key, False, True)
    assert fallback.settle([[b"@v", b"1"]]) == [Degraded([b"@v", b"1"])]


def test_a_degraded_load_is_marked_and_still_honours_expiry() -> None:
    ctx = make_ctx()
    sid = ctx.ids.new()
    _, stored = drive(ctx.load(sid, NOW), [Degraded(stored_hash(ctx, sid, {"a": 1}))])
    assert stored is not None
    assert (stored.data, stored.degraded) == ({"a": 1}, True)
    _, expired = drive(ctx.load(sid, NOW), [Degraded(stored_hash(ctx, sid, {"a": 1}, expires=NOW))])
    assert expired is None  # a replica does not run LOAD's expiry check


@pytest.mark.parametrize("reply", [None, [], False])
def test_load_of_a_missing_session_is_none(reply: Reply) -> None:
    ctx = make_ctx()
    _, stored = drive(ctx.load(ctx.ids.new(), NOW), [reply])
    assert stored is None


@pytest.mark.parametrize(("age_ms", "touched"), [(59_999, False), (60_000, True), (3_600_000, True)])
def test_load_reports_whether_it_refreshed_the_ttl(age_ms: int, touched: bool) -> None:
    session = loaded(make_ctx(), {}, touched=NOW - age_ms)
    assert state_of(session).stored is not None
    assert state_of(session).stored.touched is touched


def test_an_undecodable_value_is_dropped_and_the_session_kept(caplog: pytest.LogCaptureFixture) -> None:
    ctx = make_ctx()
    sid = ctx.ids.new()
    reply = [*stored_hash(ctx, sid, {"good": 1}), b".bad", b"{not json"]
    with caplog.at_level(logging.ERROR, logger="hasession"):
        _, stored = drive(ctx.load(sid, NOW), [reply])
    assert stored is not None
    assert stored.data == {"good": 1}
    assert "bad" in caplog.text
    assert sid.value not in caplog.text  # the log names the session by its hash only


# -- encryption through the flows ------------------------------------------------------------


def _written(batch: Batch) -> list[bytes]:
    """The hash a create/update SAVE leaves, as HGETALL would return it."""
    head, sets, _ = save_args(batch)
    meta = [b"@c", str(NOW).encode(), b"@v", b"0", b"@x", str(head[4]).encode(), b"@t", str(NOW).encode()]
    return meta + [part for name, value in sets.items() for part in (name.encode(), value)]


def test_encrypted_updates_read_back() -> None:
    ctx = make_ctx(encrypt=True)
    session = loaded(ctx, {"a": 1, "b": [1]})
    assert state_of(session).stored is not None
    assert state_of(session).stored.data == {"a": 1, "b": [1]}
    session["a"] = 2
    (batch,), _ = drive(ctx.save(state_of(session), NOW, RID), [OK])
    sets = save_args(batch)[1]
    assert sets[".a"] != b"2"  # sealed, not plain JSON
    assert state_of(session).sid is not None
    assert ctx.codec.decode(sets[".a"], context=_context(state_of(session).sid.tag, "a")) == 2


def test_an_encrypted_new_session_reads_back() -> None:
    """Regression: values were sealed to the client's (or an empty) tag, not the new id's."""
    ctx = make_ctx(encrypt=True)
    session = Session()
    session["cart"] = [1, 2]
    (batch,), result = drive(ctx.save(state_of(session), NOW, RID), [[b"OK", b"0"]])
    sid = ctx.ids.verify(result.value)
    assert sid is not None
    _, stored = drive(ctx.load(sid, NOW), [_written(batch)])
    assert stored is not None
    assert stored.data == {"cart": [1, 2]}


def test_an_encrypted_new_session_keeps_its_user() -> None:
    ctx = make_ctx(encrypt=True)
    session = Session()
    session.user_id = "alice"
    (batch, _), result = drive(ctx.save(state_of(session), NOW, RID), [[b"OK", b"0"]], [1])
    sid = ctx.ids.verify(result.value)
    assert sid is not None
    _, stored = drive(ctx.load(sid, NOW), [_written(batch)])
    assert stored is not None
    assert stored.user_id == "alice"


# -- user listing and revocation ---------------------------------------------------------------


def test_sessions_of_lists_live_sessions_with_reads_only() -> None:
    ctx = make_ctx()
    idx = index_of(ctx, "alice")
    live, gone, expired = (public(ctx, ctx.ids.new()) for _ in range(3))
    batches, infos = drive(
        ctx.sessions_of("alice", NOW),
        [[live.encode(), gone, expired.encode()]],
        [[b"100", b"200", str(EXPIRES).encode()]],
        [[None, None, None]],
        [[b"100", b"200", str(NOW).encode()]],
    )
    assert batches[0].commands == (Call(("ZRANGEBYSCORE", idx, NOW, "+inf")),)
    assert batches[1].commands == (Call(("HMGET", ctx.keys.data_for_public(live), "@c", "@t", "@x")),)
    assert all(not b.write and b.wait_replicas == 0 for b in batches)
    assert infos == [SessionInfo(public_id=live, created_ms=100, last_seen_ms=200, expires_ms=EXPIRES)]


@pytest.mark.parametrize(("deleted", "expected"), [(1, True), (0, False)])
def test_revoke_by_public_id(deleted: int, expected: bool) -> None:
    ctx = make_ctx()
    pid = public(ctx, ctx.ids.new())
    key = ctx.keys.data_for_public(pid)
    (destroy,), existed = drive(ctx.revoke(pid, None), [deleted])
    assert destroy.commands == (Eval(DESTROY, (key,), (POLICY.tombstone_ttl * 1000,)),)
    assert existed is expected


def test_public_id_only_for_stored_sessions() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1})
    assert state_of(session).sid is not None
    assert ctx.public_id(state_of(session)) == public(ctx, state_of(session).sid)
    assert ctx.public_id(state_of(Session())) is None
    stale = Session(ctx.ids.new())
    state_of(stale).fill(None)
    assert ctx.public_id(state_of(stale)) is None


def test_canary_plants_its_token() -> None:
    ctx = make_ctx()
    (batch,), status = drive(ctx.canary("tok"), [[b"same", b"older"]])
    assert batch.commands == (Eval(CANARY, ("hs:canary",), ("tok",)),)
    assert status == ["same", "older"]


def test_a_bad_value_is_dropped_alone_when_the_fast_path_cannot_parse_the_session() -> None:

    ctx = SessionFlows(
        ids=IdCodec([Secret("k" * 32)]),
        keys=KeySchema(),
        codec=Codec(),
        policy=SessionPolicy(),
        durability=DurabilityPolicy(),
    )
    sid = ctx.ids.new()
    fields = {
        ".good": b'{"a": [1, 2]}',
        ".bad": b"{not json",
        ".n": b"3",
        "@x": b"99999999999999",
        "@v": b"1",
        "@c": b"1",
        "@t": b"1",
    }
    reply = [part for name, raw in fields.items() for part in (name.encode(), raw)]
    stored = ctx._decode(sid, *_split(reply), now_ms=0)
    assert stored.data == {"good": {"a": [1, 2]}, "n": 3}
    assert stored.plain == {"good": b'{"a": [1, 2]}', "n": b"3"}


# -- hostile data: what someone else wrote at a session's key ---------------------------------------


def _plain_context() -> Any:

    return SessionFlows(
        ids=IdCodec([Secret("k" * 32)]),
        keys=KeySchema(),
        codec=Codec(),
        policy=SessionPolicy(max_size=1024),
        durability=DurabilityPolicy(),
    )


_META = [b"@v", b"1", b"@c", b"1", b"@t", b"1", b"@x", b"99999999999999"]


@pytest.mark.parametrize(
    "reply",
    [
        [b"@v", b"x", *_META[2:]],  # metadata that is not an integer
        _META[2:],  # metadata missing
        [*_META, b".big", b'"' + b"x" * 2000 + b'"'],  # more than max_size
        [b"@!", b"WRONGTYPE Operation against a key holding the wrong kind of value"],
        [*_META, b".odd"],  # not field/value pairs
        [*_META, 7, b"1"],  # not bytes
    ],
)
def test_a_damaged_hash_gives_a_fresh_session_and_an_error_log(
    reply: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    ctx = _plain_context()
    assert ctx._decode_or_none(ctx.ids.new(), reply, 0) is None
    assert any(r.levelname == "ERROR" and "damaged" in r.getMessage() for r in caplog.records)


def test_a_tombstone_gives_a_fresh_session_quietly(caplog: pytest.LogCaptureFixture) -> None:
    ctx = _plain_context()
    assert ctx._decode_or_none(ctx.ids.new(), [*_META, b"@d", b"1", b".a", b"1"], 0) is None
    assert not caplog.records


def test_foreign_field_names_and_user_ids_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    ctx = _plain_context()
    stored = ctx._decode_or_none(ctx.ids.new(), [*_META, b"\xff\xfe", b"1", b".a", b"2", b"@u", b"42"], 0)
    assert stored is not None
    assert (stored.data, stored.user_id) == ({"a": 2}, None)
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 2
