"""``SessionFlows.save``, driven by hand: canned replies in, the exact batches out (see
``test_flows.py``; helpers: ``_flows.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis.crc import key_slot

from hasession._commands import Batch, Call, Eval
from hasession._config import CookieOptions, DurabilityPolicy
from hasession._cookies import set_cookie_header
from hasession._exceptions import (
    ConcurrentUpdate,
    NotReplicated,
    SessionDataError,
    SessionTooLarge,
    StoreResponseError,
)
from hasession._flows import SessionFlows
from hasession._ids import SessionId
from hasession._results import SaveResult
from hasession._scripts import CANARY, CYCLE, DESTROY, INDEX_ADD, LOAD, SAVE
from hasession._session import Session, state_of

from ._flows import (
    EXPIRES,
    IDLE_MS,
    NOW,
    OK,
    POLICY,
    RID,
    Reply,
    delta,
    drive,
    index_of,
    loaded,
    make_ctx,
    public,
    save_args,
    the_eval,
)

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
