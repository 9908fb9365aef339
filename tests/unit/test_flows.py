"""The sans-IO flows, driven by hand: canned replies in, the exact batches out.

Each test plays Redis: it sends the flow the replies a server would give (already settled by
``Batch.settle``, as the drivers do) and checks every batch the flow yields.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from redis.crc import key_slot

from hasession._codec import Codec
from hasession._commands import Batch, Call, Degraded, Eval, Flow
from hasession._config import CookieOptions, DurabilityPolicy, Secret, SessionPolicy
from hasession._cookies import set_cookie_header
from hasession._exceptions import (
    ConcurrentUpdate,
    NotReplicated,
    SessionDataError,
    SessionTooLarge,
    StoreResponseError,
)
from hasession._flows import SessionFlows, _context, _split
from hasession._ids import IdCodec, SessionId
from hasession._keys import KeySchema
from hasession._results import SaveResult, SessionInfo
from hasession._scripts import CANARY, CYCLE, DESTROY, INDEX_ADD, LOAD, SAVE
from hasession._session import Session, state_of

T = TypeVar("T")
Reply = Any

KEY = Secret("k" * 32)
ENCRYPTION_KEY = Secret("e" * 32)
NOW = 1_700_000_000_000
EXPIRES = NOW + 3_600_000  # absolute expiry of the loaded sessions
POLICY = SessionPolicy()
IDLE_MS = POLICY.idle_timeout * 1000
OK: Reply = [b"OK", b"4"]
RID = "req-1"


def make_ctx(
    *, encrypt: bool = False, durability: DurabilityPolicy | None = None, **policy: Any
) -> SessionFlows:
    return SessionFlows(
        ids=IdCodec([KEY]),
        keys=KeySchema(),
        codec=Codec([ENCRYPTION_KEY] if encrypt else ()),
        policy=SessionPolicy(**policy),
        durability=durability or DurabilityPolicy(),
    )


def drive(flow: Flow[T], *replies: list[Reply]) -> tuple[list[Batch], T]:
    """Run ``flow``, answering its batches with ``replies`` in order; all must be used."""
    batches: list[Batch] = []
    pending = list(replies)
    try:
        batch = next(flow)
        while True:
            batches.append(batch)
            assert pending, f"unexpected batch: {batch}"
            batch = flow.send(pending.pop(0))
    except StopIteration as stop:
        assert not pending, f"the flow ended with {len(pending)} replies unused"
        return batches, stop.value


def stored_hash(
    ctx: SessionFlows,
    sid: SessionId,
    data: dict[str, Any],
    *,
    version: int = 3,
    touched: int = NOW - 1_000,
    expires: int = EXPIRES,
    user: str | None = None,
) -> list[bytes]:
    """What ``HGETALL`` of a stored session returns."""
    meta = {"@c": NOW - 86_400_000, "@v": version, "@x": expires, "@t": touched, "@r": "earlier"}
    flat = [part for name, value in meta.items() for part in (name.encode(), str(value).encode())]
    for key, value in data.items():
        flat += [f".{key}".encode(), ctx.codec.encode(value, context=_context(sid.tag, key))]
    if user is not None:
        flat += [b"@u", ctx.codec.encode(user, context=_context(sid.tag, "@u"))]
    return flat


def loaded(ctx: SessionFlows, data: dict[str, Any], **meta: Any) -> Session:
    sid = ctx.ids.new()
    session = Session(sid)
    _, stored = drive(ctx.load(sid, NOW), [stored_hash(ctx, sid, data, **meta)])
    state_of(session).fill(stored)
    return session


def the_eval(batch: Batch) -> Eval:
    (command,) = batch.commands
    assert isinstance(command, Eval)
    return command


def delta(args: tuple[Any, ...]) -> tuple[dict[str, bytes], list[str]]:
    """``(fields set, fields deleted)`` from the tail of SAVE / CYCLE arguments."""
    nset = args[0]
    sets = {args[1 + 2 * i]: args[2 + 2 * i] for i in range(nset)}
    rest = args[1 + 2 * nset :]
    assert len(rest) == 1 + rest[0]
    return sets, list(rest[1:])


def save_args(batch: Batch) -> tuple[tuple[Any, ...], dict[str, bytes], list[str]]:
    command = the_eval(batch)
    assert command.script is SAVE
    return command.args[:6], *delta(command.args[6:])


def public(ctx: SessionFlows, sid: SessionId) -> str:
    return ctx.keys.public_id(sid)


def index_of(ctx: SessionFlows, user: str) -> str:
    return ctx.keys.user_index(ctx.ids.hash_user(user))


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


# -- save: nothing to write ------------------------------------------------------------------


def test_a_loaded_unchanged_session_writes_nothing() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1, "cart": [1, 2]})
    assert session["a"] == 1
    assert session.get("cart") == [1, 2]
    assert session.get("missing") is None
    batches, result = drive(ctx.save(state_of(session), NOW, RID))
    assert batches == []
    assert state_of(session).sid is not None
    assert result == SaveResult(
        cookie="keep", value=ctx.ids.sign(state_of(session).sid), refresh=False, wrote=False
    )


def test_an_unchanged_session_whose_ttl_was_refreshed_asks_for_a_cookie_refresh() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1}, touched=NOW - 120_000)
    batches, result = drive(ctx.save(state_of(session), NOW, RID))
    assert batches == []
    assert (result.cookie, result.refresh, result.wrote) == ("keep", True, False)


def test_an_unloaded_session_writes_nothing() -> None:
    ctx = make_ctx()
    batches, result = drive(ctx.save(state_of(Session(ctx.ids.new())), NOW, RID))
    assert batches == []
    assert result == SaveResult(cookie="keep")


def test_a_new_empty_session_writes_nothing_and_sets_no_cookie() -> None:
    ctx = make_ctx()
    session = Session()
    assert session.get("anything") is None
    batches, result = drive(ctx.save(state_of(session), NOW, RID))
    assert batches == []
    assert result == SaveResult(cookie="keep")
    assert set_cookie_header(CookieOptions(), result) is None


def test_a_stale_cookie_with_an_empty_session_is_deleted_without_a_write() -> None:
    ctx = make_ctx()
    session = Session(ctx.ids.new())
    state_of(session).fill(None)  # the store had nothing for this cookie
    batches, result = drive(ctx.save(state_of(session), NOW, RID))
    assert batches == []
    assert result == SaveResult(cookie="delete")


# -- save: updates ---------------------------------------------------------------------------


def test_an_update_writes_only_the_changed_fields_and_deletions() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1, "b": 2, "c": 3, "d": 4})
    session["a"] = 10
    del session["b"]
    session["new"] = "x"
    session["tmp"] = 1
    del session["tmp"]  # never stored: nothing to delete
    assert state_of(session).sid is not None
    (batch,), result = drive(ctx.save(state_of(session), NOW, RID), [OK])
    head, sets, dels = save_args(batch)
    key = ctx.keys.data(state_of(session).sid)
    assert the_eval(batch).keys == (key,)
    assert batch.route == key
    assert head == ("u", RID, NOW, IDLE_MS, 0, "")
    assert sets == {".a": b"10", ".new": b'"x"'}
    assert dels == [".b"]
    assert result == SaveResult(
        cookie="keep", value=ctx.ids.sign(state_of(session).sid), refresh=False, wrote=True
    )


def test_pop_and_clear_are_deletions() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1, "b": 2})
    session.clear()
    (batch,), _ = drive(ctx.save(state_of(session), NOW, RID), [OK])
    assert save_args(batch)[1:] == ({}, [".a", ".b"])


@pytest.mark.parametrize(
    ("data", "mutate", "expected"),
    [
        ({"cart": [1]}, lambda s: s["cart"].append(2), {".cart": b"[1,2]"}),
        ({"p": {"x": {"y": 1}}}, lambda s: s["p"]["x"].update(y=2), {".p": b'{"x":{"y":2}}'}),
        ({"l": [1, 2]}, lambda s: s.get("l").pop(), {".l": b"[1]"}),
        ({"d": {"k": 1}}, lambda s: [v.clear() for v in s.values()], {".d": b"{}"}),
    ],
    ids=["append", "nested", "get", "values"],
)
def test_in_place_mutation_of_a_loaded_value_is_written(
    data: dict[str, Any], mutate: Callable[[Session], object], expected: dict[str, bytes]
) -> None:
    ctx = make_ctx()
    session = loaded(ctx, data)
    mutate(session)
    (batch,), result = drive(ctx.save(state_of(session), NOW, RID), [OK])
    assert save_args(batch)[1:] == (expected, [])
    assert result.wrote


# -- save: new sessions ----------------------------------------------------------------------


def _created(ctx: SessionFlows, batch: Batch, result: SaveResult) -> SessionId:
    """The id a create batch stored, checked against the cookie."""
    assert result.cookie == "set"
    assert result.wrote
    sid = ctx.ids.verify(result.value)
    assert sid is not None
    assert the_eval(batch).keys == (ctx.keys.data(sid),)
    assert batch.route == ctx.keys.data(sid)
    return sid


def test_a_new_session_with_data_is_created_under_a_fresh_id() -> None:
    ctx = make_ctx()
    session = Session()
    session["a"] = 1
    (batch,), result = drive(ctx.save(state_of(session), NOW, RID), [[b"OK", b"0"]])
    head, sets, dels = save_args(batch)
    _created(ctx, batch, result)
    assert head == ("c", RID, NOW, IDLE_MS, NOW + POLICY.absolute_timeout * 1000, "")
    assert (sets, dels) == ({".a": b"1"}, [])


def test_the_id_a_client_brought_is_never_adopted() -> None:
    ctx = make_ctx()
    client = ctx.ids.new()
    session = Session(client)
    state_of(session).fill(None)  # a valid cookie whose session is gone (expired, or made up by an attacker)
    session["a"] = 1
    (batch,), result = drive(ctx.save(state_of(session), NOW, RID), [[b"OK", b"0"]])
    sid = _created(ctx, batch, result)
    assert sid.value != client.value
    assert sid.tag != client.tag
    assert ctx.keys.data(client) not in the_eval(batch).keys


def test_an_id_collision_retries_with_another_fresh_id() -> None:
    ctx = make_ctx()
    session = Session()
    session["a"] = 1
    batches, result = drive(ctx.save(state_of(session), NOW, RID), [[b"COLLISION"]], [[b"OK", b"0"]])
    first, second = batches
    assert save_args(first)[0][0] == save_args(second)[0][0] == "c"
    assert first.route != second.route
    _created(ctx, second, result)


def test_a_new_session_whose_user_was_set_and_cleared_writes_nothing() -> None:
    ctx = make_ctx()
    session = Session()
    session.user_id = "alice"
    session.user_id = None
    batches, result = drive(ctx.save(state_of(session), NOW, RID))
    assert batches == []
    assert result == SaveResult(cookie="keep")


def test_a_new_session_with_only_a_user_is_created_and_indexed() -> None:
    ctx = make_ctx()
    session = Session()
    session.user_id = "alice"
    (save, index), result = drive(ctx.save(state_of(session), NOW, RID), [[b"OK", b"0"]], [1])
    sid = _created(ctx, save, result)
    assert save_args(save)[1:] == ({"@u": b'"alice"'}, [])
    idx = index_of(ctx, "alice")
    assert index.commands == (
        Eval(INDEX_ADD, (idx,), (NOW, NOW + POLICY.absolute_timeout * 1000, public(ctx, sid))),
    )
    assert index.route == idx


# -- save: id cycle, destroy -------------------------------------------------------------------


def test_cycle_is_one_cycle_batch_inside_one_slot() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1})
    old = state_of(session).sid
    assert old is not None
    session["b"] = 2
    session.cycle_id()
    (batch,), result = drive(ctx.save(state_of(session), NOW, RID), [OK])
    command = the_eval(batch)
    assert command.script is CYCLE
    new = ctx.ids.verify(result.value)
    assert new is not None
    assert (result.cookie, result.wrote) == ("set", True)
    assert new.tag == old.tag
    assert new.value != old.value
    assert command.keys == (ctx.keys.data(old), ctx.keys.data(new))
    assert len({key_slot(k.encode()) for k in command.keys}) == 1
    assert batch.route == ctx.keys.data(old)
    assert command.args[:5] == (RID, NOW, IDLE_MS, POLICY.tombstone_ttl * 1000, "")
    assert delta(command.args[5:]) == ({".b": b"2"}, [])


def test_cycle_moves_the_user_index_entry() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {}, user="alice")
    old = state_of(session).sid
    assert old is not None
    session.cycle_id()
    (_, index), result = drive(ctx.save(state_of(session), NOW, RID), [OK], [1])
    new = ctx.ids.verify(result.value)
    assert new is not None
    idx = index_of(ctx, "alice")
    assert index.commands == (Eval(INDEX_ADD, (idx,), (NOW, EXPIRES, public(ctx, new), public(ctx, old))),)


def test_destroy_deletes_and_unindexes() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1}, user="alice")
    sid = state_of(session).sid
    assert sid is not None
    session.destroy()
    (destroy, unindex), result = drive(ctx.save(state_of(session), NOW, RID), [1], [1])
    key = ctx.keys.data(sid)
    assert destroy.commands == (Eval(DESTROY, (key,), (POLICY.tombstone_ttl * 1000,)),)
    assert destroy.route == key
    idx = index_of(ctx, "alice")
    assert unindex.commands == (Call(("ZREM", idx, public(ctx, sid))),)
    assert (result.cookie, result.wrote) == ("delete", True)


def test_destroy_without_a_user_is_one_batch() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1})
    session.destroy()
    (batch,), result = drive(ctx.save(state_of(session), NOW, RID), [1])
    assert the_eval(batch).script is DESTROY
    assert result.cookie == "delete"


def test_destroying_a_new_session_writes_nothing() -> None:
    ctx = make_ctx()
    session = Session()
    session["a"] = 1
    session.destroy()
    batches, result = drive(ctx.save(state_of(session), NOW, RID))
    assert batches == []
    assert result.cookie == "keep"


def test_destroying_a_vanished_session_reports_no_write() -> None:
    ctx = make_ctx()
    session = Session(ctx.ids.new())
    state_of(session).fill(None)
    session.destroy()
    batches, result = drive(ctx.save(state_of(session), NOW, RID))
    assert batches == []
    assert result == SaveResult(cookie="delete", wrote=False)


# -- save: the session vanished, or changed concurrently ----------------------------------------


@pytest.mark.parametrize("status", [b"GONE", b"DESTROYED"])
@pytest.mark.parametrize("cycle", [False, True], ids=["update", "cycle"])
def test_a_vanished_session_is_not_resurrected(status: bytes, cycle: bool) -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1}, user="alice")
    session["a"] = 2
    session.user_id = "bob"
    if cycle:
        session.cycle_id()
    (batch,), result = drive(
        ctx.save(state_of(session), NOW, RID), [[status]]
    )  # no index, no create after it
    command = the_eval(batch)
    assert command.script is (CYCLE if cycle else SAVE)
    if not cycle:
        assert command.args[0] == "u"  # update mode never creates the hash
    assert result == SaveResult(cookie="delete")


@pytest.mark.parametrize("reply", [None, [], b"OK", 1])
def test_a_malformed_script_reply_is_a_response_error(reply: Reply) -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1})
    session["a"] = 2
    with pytest.raises(StoreResponseError):
        drive(ctx.save(state_of(session), NOW, RID), [reply])


def test_cas_mode_sends_the_loaded_version_and_raises_on_conflict() -> None:
    ctx = make_ctx(concurrency="cas")
    session = loaded(ctx, {"a": 1}, version=7)
    session["a"] = 2
    flow = ctx.save(state_of(session), NOW, RID)
    batch = next(flow)
    assert save_args(batch)[0][5] == "7"
    with pytest.raises(ConcurrentUpdate):
        flow.send([[b"CONFLICT", b"8"]])


def test_cas_mode_guards_an_id_cycle_too() -> None:
    ctx = make_ctx(concurrency="cas")
    session = loaded(ctx, {"a": 1}, version=7)
    session.cycle_id()
    flow = ctx.save(state_of(session), NOW, RID)
    assert the_eval(next(flow)).args[4] == "7"
    with pytest.raises(ConcurrentUpdate):
        flow.send([[b"CONFLICT", b"8"]])


def test_merge_mode_sends_no_version() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1}, version=7)
    session["a"] = 2
    (batch,), _ = drive(ctx.save(state_of(session), NOW, RID), [OK])
    assert save_args(batch)[0][5] == ""


# -- save: size limit ------------------------------------------------------------------------


def _too_big_new(s: Session) -> None:
    s["big"] = "x" * 300


def _too_big_with_stored(s: Session) -> None:
    s["small"] = "y" * 60


def _too_big_in_place(s: Session) -> None:
    s["blob"] += "z" * 100  # reassigned, so counted
    s["list"].extend(range(100))


@pytest.mark.parametrize(
    ("data", "change"),
    [
        ({}, _too_big_new),
        ({"blob": "b" * 200}, _too_big_with_stored),
        ({"blob": "b", "list": []}, _too_big_in_place),
    ],
    ids=["new value", "with stored values", "in place"],
)
def test_an_oversized_session_raises_before_any_batch(
    data: dict[str, Any], change: Callable[[Session], None]
) -> None:
    ctx = make_ctx(max_size=256)
    session = loaded(ctx, data) if data else Session()
    change(session)
    flow = ctx.save(state_of(session), NOW, RID)
    with pytest.raises(SessionTooLarge):
        next(flow)


def test_deleting_a_large_value_makes_room() -> None:
    ctx = make_ctx(max_size=256)
    session = loaded(ctx, {"blob": "b" * 200})
    del session["blob"]
    session["small"] = "y" * 100
    (batch,), _ = drive(ctx.save(state_of(session), NOW, RID), [OK])
    assert save_args(batch)[2] == [".blob"]


def test_a_non_json_value_is_refused_before_any_batch() -> None:
    ctx = make_ctx()
    session = Session()
    session["s"] = {1, 2}
    with pytest.raises(SessionDataError):
        next(ctx.save(state_of(session), NOW, RID))


# -- save: the user index --------------------------------------------------------------------


def test_setting_a_user_adds_the_session_to_the_index() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {"a": 1})
    session.user_id = "alice"
    (save, index), result = drive(ctx.save(state_of(session), NOW, RID), [OK], [1])
    assert state_of(session).sid is not None
    assert save_args(save)[1:] == ({"@u": b'"alice"'}, [])
    idx = index_of(ctx, "alice")
    assert index.commands == (Eval(INDEX_ADD, (idx,), (NOW, EXPIRES, public(ctx, state_of(session).sid))),)
    assert index.route == idx
    assert result.cookie == "keep"


def test_changing_the_user_moves_the_index_entry() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {}, user="alice")
    session.user_id = "bob"
    (_, unindex, index), _ = drive(ctx.save(state_of(session), NOW, RID), [OK], [1], [1])
    assert state_of(session).sid is not None
    pid = public(ctx, state_of(session).sid)
    assert unindex.commands == (Call(("ZREM", index_of(ctx, "alice"), pid)),)
    assert index.commands == (Eval(INDEX_ADD, (index_of(ctx, "bob"),), (NOW, EXPIRES, pid)),)


def test_clearing_the_user_deletes_the_field_and_unindexes() -> None:
    ctx = make_ctx()
    session = loaded(ctx, {}, user="alice")
    session.user_id = None
    (save, unindex), _ = drive(ctx.save(state_of(session), NOW, RID), [OK], [1])
    assert state_of(session).sid is not None
    sets, dels = save_args(save)[1:]
    assert dels == ["@u"]
    assert set(sets) <= {"@u"}  # today it also sets "@u" to null first; the script deletes it after
    assert unindex.commands == (Call(("ZREM", index_of(ctx, "alice"), public(ctx, state_of(session).sid))),)


# -- durability and idempotence of every write ----------------------------------------------------


def _update(ctx: SessionFlows) -> list[Batch]:
    session = loaded(ctx, {"a": 1}, user="alice")
    session["a"] = 2
    session.user_id = "bob"
    return drive(ctx.save(state_of(session), NOW, RID), [OK], [1], [1])[0]


def _create(ctx: SessionFlows) -> list[Batch]:
    session = Session()
    session["a"] = 1
    session.user_id = "alice"
    return drive(ctx.save(state_of(session), NOW, RID), [[b"COLLISION"]], [OK], [1])[0]


def _cycle(ctx: SessionFlows) -> list[Batch]:
    session = loaded(ctx, {"a": 1}, user="alice")
    session.user_id = "bob"
    session.cycle_id()
    return drive(ctx.save(state_of(session), NOW, RID), [OK], [1], [1])[0]


def _destroy(ctx: SessionFlows) -> list[Batch]:
    session = loaded(ctx, {"a": 1}, user="alice")
    session.destroy()
    return drive(ctx.save(state_of(session), NOW, RID), [1], [1])[0]


def _revoke(ctx: SessionFlows) -> list[Batch]:
    return drive(ctx.revoke(public(ctx, ctx.ids.new()), "alice"), [1], [1])[0]


def _canary(ctx: SessionFlows) -> list[Batch]:
    return drive(ctx.canary("token"), [[b"new", b"token"]])[0]


WRITES: dict[str, Callable[[SessionFlows], list[Batch]]] = {
    "update": _update,
    "create": _create,
    "cycle": _cycle,
    "destroy": _destroy,
    "revoke": _revoke,
    "canary": _canary,
}
IDEMPOTENT_SCRIPTS = {LOAD, SAVE, CYCLE, DESTROY, INDEX_ADD, CANARY}
IDEMPOTENT_CALLS = {"ZREM"}


@pytest.mark.parametrize("scenario", WRITES.values(), ids=WRITES.keys())
def test_replicated_durability_puts_a_wait_after_every_write(
    scenario: Callable[[SessionFlows], list[Batch]],
) -> None:
    durability = DurabilityPolicy(mode="replicated", replicas=2, wait_timeout_ms=300)
    batches = scenario(make_ctx(durability=durability))
    assert batches
    for batch in batches:
        assert batch.write
        assert (batch.wait_replicas, batch.wait_timeout_ms) == (2, 300)
        assert batch.wire()[-1] == ("WAIT", 2, 300)
        with pytest.raises(NotReplicated):
            batch.settle([*([OK] * len(batch.commands)), 1])
        assert batch.settle([*([OK] * len(batch.commands)), 2]) == [OK] * len(batch.commands)


@pytest.mark.parametrize("scenario", WRITES.values(), ids=WRITES.keys())
def test_async_durability_sends_no_wait(scenario: Callable[[SessionFlows], list[Batch]]) -> None:
    for batch in scenario(make_ctx()):
        assert batch.wait_replicas == 0
        assert all(args[0] != "WAIT" for args in batch.wire())


@pytest.mark.parametrize("scenario", WRITES.values(), ids=WRITES.keys())
def test_every_write_is_an_idempotent_command(scenario: Callable[[SessionFlows], list[Batch]]) -> None:
    for batch in scenario(make_ctx(durability=DurabilityPolicy(mode="replicated"))):
        assert batch.node is None  # routed by key, retried by the driver
        for command in batch.commands:
            if isinstance(command, Eval):
                assert command.script in IDEMPOTENT_SCRIPTS
                assert all(not isinstance(arg, float) for arg in command.args)  # absolute ms, no clocks
            else:
                assert command.args[0] in IDEMPOTENT_CALLS


def test_every_script_write_carries_the_request_id() -> None:
    for scenario in (_update, _create, _cycle):
        evals = [c for batch in scenario(make_ctx()) for c in batch.commands if isinstance(c, Eval)]
        scripted = [c for c in evals if c.script in (SAVE, CYCLE)]
        assert scripted
        assert all(RID in c.args for c in scripted)  # what makes a resent batch a no-op


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
    from hasession._codec import Codec
    from hasession._config import DurabilityPolicy, Secret, SessionPolicy
    from hasession._flows import SessionFlows
    from hasession._ids import IdCodec
    from hasession._keys import KeySchema

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
    from hasession._codec import Codec
    from hasession._config import DurabilityPolicy, Secret, SessionPolicy
    from hasession._flows import SessionFlows
    from hasession._ids import IdCodec
    from hasession._keys import KeySchema

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
