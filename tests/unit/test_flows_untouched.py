"""``SessionFlows.untouched``: the store's shortcut for a save with nothing to write, checked against
the full save flow on every kind of request (in-place mutations of nested values included)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import pytest

from hasession._codec import Codec
from hasession._commands import Batch, Flow
from hasession._config import DurabilityPolicy, Secret, SessionPolicy
from hasession._flows import SessionFlows
from hasession._ids import IdCodec
from hasession._keys import KeySchema
from hasession._results import KEEP
from hasession._session import Session, StoredSession, state_of

T = TypeVar("T")
CTX = SessionFlows(
    ids=IdCodec([Secret("k" * 32)]),
    keys=KeySchema(),
    codec=Codec(()),
    policy=SessionPolicy(),
    durability=DurabilityPolicy(),
)
NOW = 1_700_000_000_000
DATA: dict[str, Any] = {"s": "x", "n": 1, "f": 1.5, "b": True, "z": None, "l": [1], "d": {"x": {"y": 1}}}


def _loaded(data: dict[str, Any]) -> Session:
    """A session as a load leaves it: its values decoded from their stored JSON."""
    session = Session(CTX.ids.new())
    plain = {k: orjson.dumps(v) for k, v in data.items()}
    state_of(session).fill(
        StoredSession(data={k: orjson.loads(p) for k, p in plain.items()}, plain=plain, expires_ms=NOW * 2)
    )
    return session


def _first_step(flow: Flow[T]) -> tuple[Batch | None, T | None]:
    """A flow's first batch, or its result when it ends without one."""
    try:
        return next(flow), None
    except StopIteration as stop:
        return None, stop.value


def _assign_same(session: Session) -> None:
    session["s"] = "x"  # the value it had: still an assignment, written


def _cycle(session: Session) -> None:
    session.cycle_id()


def _log_in(session: Session) -> None:
    session.user_id = "u1"


#: What a request may do to a loaded session, and whether its save then writes.
REQUESTS: dict[str, tuple[Callable[[Session], object], bool]] = {
    "nothing": (lambda s: None, False),
    "read every value": (lambda s: list(s.items()), False),
    "read one key": (lambda s: s.get("s"), False),
    "reassign a value": (_assign_same, True),
    "append to a list": (lambda s: s["l"].append(2), True),
    "nested dict set": (lambda s: s["d"]["x"].update(y=2), True),
    "mutate via values()": (lambda s: [v.clear() for v in s.values() if isinstance(v, dict)], True),
    "delete": (lambda s: s.pop("n"), True),
    "clear": (lambda s: s.clear(), True),
    "cycle the id": (_cycle, True),
    "log in": (_log_in, True),
    "destroy": (lambda s: s.destroy(), True),
}


@pytest.mark.parametrize(("request_", "writes"), REQUESTS.values(), ids=REQUESTS.keys())
def test_untouched_agrees_with_save(request_: Callable[[Session], object], writes: bool) -> None:
    """``None`` whenever the save sends a batch, else the save's own result."""
    session = _loaded(DATA)
    request_(session)
    shortcut = CTX.untouched(state_of(session))
    batch, result = _first_step(CTX.save(state_of(session), NOW, "rid"))
    assert (batch is not None) == writes
    assert shortcut == (result if batch is None else None)


def test_untouched_new_and_unloaded_sessions() -> None:
    assert CTX.untouched(state_of(Session(None))) is None  # new: the save decides (create or nothing)
    assert CTX.untouched(state_of(Session(CTX.ids.new(), loader=lambda s: None))) == KEEP
