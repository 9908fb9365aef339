"""Session: change tracking, lazy loading, and a dict API that records every change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from hasession._config import Secret
from hasession._exceptions import SessionNotLoaded
from hasession._ids import IdCodec
from hasession._session import Session, StoredSession, state_of

CODEC = IdCodec([Secret("k" * 32)])


def stored(data: dict[str, Any], user: str | None = None) -> StoredSession:
    return StoredSession(
        data=dict(data), plain={k: orjson.dumps(v) for k, v in data.items()}, user_id=user, version=1
    )


def loaded(data: dict[str, Any], user: str | None = None) -> Session:
    session = Session(CODEC.new())
    state_of(session).fill(stored(data, user))
    return session


def state(session: Session) -> tuple[bool, bool, bool]:
    return session.new, session.modified, session.accessed


# -- change tracking -------------------------------------------------------------------------


def test_a_session_without_cookie_is_new_loaded_and_clean() -> None:
    session = Session()
    assert session.loaded
    assert state(session) == (True, False, False)
    assert (session.id, state_of(session).sid, session.user_id, state_of(session).stored) == (
        None,
        None,
        None,
        None,
    )
    assert repr(session) == "<Session 0 keys new>"


def test_a_loaded_session_is_not_new_and_has_the_cookie_id() -> None:
    session = loaded({"a": 1})
    assert state_of(session).sid is not None
    assert state(session) == (False, False, False)
    assert session.id == state_of(session).sid.value
    assert state_of(session).sid.value not in repr(session)


def test_a_stale_cookie_gives_a_new_session_without_id() -> None:
    session = Session(CODEC.new())
    state_of(session).fill(None)
    assert session.new
    assert session.id is None


def test_reading_marks_accessed_only() -> None:
    session = loaded({"a": 1})
    assert session["a"] == 1
    assert state(session) == (False, False, True)
    assert state_of(session).changes() == ({}, set())


def test_assigning_marks_modified() -> None:
    session = loaded({"a": 1})
    session["b"] = 2
    assert state(session) == (False, True, True)
    assert state_of(session).changes() == ({"b": 2}, set())


def test_deleting_a_stored_key_is_a_change_and_an_unsaved_one_is_not() -> None:
    session = loaded({"a": 1})
    del session["a"]
    session["tmp"] = 1
    del session["tmp"]
    assert session.modified
    assert state_of(session).changes() == ({}, {"a"})


def test_reassigning_a_deleted_key_cancels_the_delete() -> None:
    session = loaded({"a": 1})
    del session["a"]
    session["a"] = 2
    assert state_of(session).changes() == ({"a": 2}, set())


def test_deleting_a_missing_key_raises_and_changes_nothing() -> None:
    session = loaded({})
    with pytest.raises(KeyError):
        del session["nope"]
    assert state_of(session).changes() == ({}, set())


def test_in_place_mutation_counts_as_modified() -> None:
    session = loaded({"cart": [1]})
    session["cart"].append(2)
    assert session.modified


def test_read_keys_are_the_loaded_keys_a_request_touched() -> None:
    session = loaded({"a": [1], "b": [2]})
    assert state_of(session).read_keys() == set()  # not accessed: nothing can have been mutated
    session["b"] = [3]
    assert state_of(session).read_keys() == {"a"}


def test_user_id_tracks_changes() -> None:
    session = loaded({}, user="alice")
    assert session.user_id == "alice"
    session.user_id = "alice"
    assert (state_of(session).user_changed, session.modified) == (False, False)
    session.user_id = "bob"
    assert (state_of(session).user_changed, session.modified) == (True, True)


def test_cycle_and_destroy_are_modifications() -> None:
    session = loaded({"a": 1})
    session.cycle_id()
    assert (state_of(session).cycle_requested, session.modified) == (True, True)
    other = loaded({"a": 1})
    other.destroy()
    assert (state_of(other).destroyed, other.modified, dict(other)) == (True, True, {})


# -- loading ---------------------------------------------------------------------------------

ACCESSES: dict[str, Callable[[Session], object]] = {
    "getitem": lambda s: s["a"],
    "setitem": lambda s: s.__setitem__("a", 1),
    "delitem": lambda s: s.__delitem__("a"),
    "get": lambda s: s.get("a"),
    "contains": lambda s: "a" in s,
    "len": len,
    "bool": bool,
    "iter": lambda s: list(s),
    "reversed": lambda s: list(reversed(s)),
    "keys": lambda s: s.keys(),
    "values": lambda s: s.values(),
    "items": lambda s: s.items(),
    "pop": lambda s: s.pop("a", None),
    "setdefault": lambda s: s.setdefault("a", 1),
    "update": lambda s: s.update(a=1),
    "|=": lambda s: s.__ior__({"a": 1}),
    "popitem": lambda s: s.popitem(),
    "|": lambda s: s | {"a": 1},
    "==": lambda s: s == {},
    "clear": lambda s: s.clear(),
    "copy": lambda s: s.copy(),
    "new": lambda s: s.new,
    "id": lambda s: s.id,
    "user_id": lambda s: s.user_id,
    "set user_id": lambda s: setattr(s, "user_id", "u"),
    "cycle_id": lambda s: s.cycle_id(),
    "destroy": lambda s: s.destroy(),
}


@pytest.mark.parametrize("access", ACCESSES.values(), ids=ACCESSES.keys())
def test_an_unloaded_session_without_loader_refuses_every_access(access: Callable[[Session], object]) -> None:
    session = Session(CODEC.new())
    with pytest.raises(SessionNotLoaded):
        access(session)
    assert not session.loaded


def test_an_unloaded_session_can_still_be_inspected() -> None:
    session = Session(CODEC.new())
    assert not session.loaded
    assert repr(session) == "<Session unloaded>"
    assert not session.modified
    assert not session.accessed
    assert state_of(session).stored is None


@pytest.mark.parametrize("access", ACCESSES.values(), ids=ACCESSES.keys())
def test_the_lazy_loader_runs_once_on_first_access(access: Callable[[Session], object]) -> None:
    calls: list[Session] = []

    def loader(session: Session) -> None:
        calls.append(session)
        state_of(session).fill(stored({"a": 0, "b": 1}))

    session = Session(CODEC.new(), loader=loader)
    assert calls == []
    access(session)
    session.get("b")
    assert "zz" not in session
    len(session)
    assert calls == [session]
    assert session.loaded


def test_a_failed_load_is_retried_on_the_next_access() -> None:
    attempts = 0

    def loader(session: Session) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionAbortedError("store down")
        state_of(session).fill(None)

    session = Session(CODEC.new(), loader=loader)
    with pytest.raises(ConnectionAbortedError):
        session.get("a")
    assert not session.loaded
    assert session.get("a") is None
    assert attempts == 2


def test_fill_does_not_count_as_access_or_change() -> None:
    session = loaded({"a": 1}, user="alice")
    assert (session.accessed, session.modified, state_of(session).user_changed) == (False, False, False)
    assert state_of(session).data["a"] == 1


# -- the dict API ----------------------------------------------------------------------------


def test_get() -> None:
    session = loaded({"a": 1})
    assert session.get("a") == 1
    assert session.get("b") is None
    assert session.get("b", 5) == 5
    assert state(session) == (False, False, True)


def test_pop() -> None:
    session = loaded({"a": 1, "b": 2})
    assert session.pop("a") == 1
    assert session.pop("zz", "dflt") == "dflt"
    assert session.pop("zz", None) is None
    with pytest.raises(KeyError):
        session.pop("zz")
    assert state_of(session).changes() == ({}, {"a"})


def test_setdefault() -> None:
    session = loaded({"a": 1})
    assert session.setdefault("a", 9) == 1
    assert state_of(session).changes() == ({}, set())
    assert session.setdefault("b", [7]) == [7]
    assert state_of(session).changes() == ({"b": [7]}, set())
    assert session.setdefault("c") is None


def test_update_from_mapping_pairs_and_keywords() -> None:
    session = loaded({"a": 1})
    session.update({"a": 2})
    session.update([("b", 3)])
    session.update(c=4)
    assert dict(session) == {"a": 2, "b": 3, "c": 4}
    assert state_of(session).changes() == ({"a": 2, "b": 3, "c": 4}, set())


def test_clear_deletes_every_stored_key() -> None:
    session = loaded({"a": 1, "b": 2})
    session["c"] = 3
    session.clear()
    assert len(session) == 0
    assert state_of(session).changes() == ({}, {"a", "b"})


def test_views_mark_access_and_see_the_data() -> None:
    session = loaded({"a": 1, "b": 2})
    assert sorted(session.items()) == [("a", 1), ("b", 2)]
    assert state(session) == (False, False, True)
    assert sorted(session.keys()) == ["a", "b"]
    assert sorted(session.values()) == [1, 2]
    assert sorted(session) == ["a", "b"]
    assert len(session) == 2


def test_popitem_removes_and_records() -> None:
    session = loaded({"a": 1})
    assert session.popitem() == ("a", 1)
    assert state_of(session).changes() == ({}, {"a"})


def test_popitem_of_an_empty_session_raises_key_error() -> None:
    with pytest.raises(KeyError):
        Session().popitem()


def test_copy_is_a_plain_dict_detached_from_tracking() -> None:
    session = loaded({"a": 1})
    copy = session.copy()
    assert type(copy) is dict
    copy["b"] = 2
    assert "b" not in session
    assert not session.modified


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.__setitem__(1, "x"),
        lambda s: s.__setitem__(b"k", "x"),
        lambda s: s.__setitem__(("t",), "x"),
        lambda s: s.__setitem__(None, "x"),
        lambda s: s.update({2: "x"}),
        lambda s: s.setdefault(3.0, "x"),
    ],
    ids=["int", "bytes", "tuple", "None", "update", "setdefault"],
)
def test_non_str_keys_are_rejected(write: Callable[[Any], object]) -> None:
    session = loaded({})
    with pytest.raises(TypeError, match="must be str"):
        write(session)
    assert dict(session) == {}
    assert not session.modified


def test_or_gives_plain_dicts_and_ior_records_the_change() -> None:
    session = loaded({"a": 1})
    assert (session | {"b": 2}, {"b": 2} | session) == ({"a": 1, "b": 2}, {"a": 1, "b": 2})
    assert type(session | {}) is dict
    assert not session.modified
    session |= [("b", 2)]
    assert isinstance(session, Session)
    assert state_of(session).changes() == ({"b": 2}, set())


def test_equality_compares_the_data() -> None:
    assert loaded({"a": 1}) == {"a": 1}
    assert loaded({"a": 1}) == loaded({"a": 1})
    assert loaded({"a": 1}) != {"a": 2}
    assert loaded({}) != []


def test_hide_drops_a_loaded_key_without_recording_a_delete() -> None:
    session = loaded({"a": 1, "kept": True})
    state_of(session).hide("kept")
    assert dict(session) == {"a": 1}
    assert not session.modified
    assert state_of(session).changes() == ({}, set())
