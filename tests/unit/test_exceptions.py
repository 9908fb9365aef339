"""The exception tree: the diagram in ``_exceptions``' docstring is the truth, and it is checked."""

from __future__ import annotations

import builtins
import dataclasses
import re

import pytest

from hasession import _exceptions
from hasession._exceptions import (
    Attempt,
    ConfigurationError,
    FailoverInProgress,
    MasterNotFound,
    NotReplicated,
    SessionDataError,
    StoreConnectionError,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
    TamperedSession,
)

_LINE = re.compile(r"^(?P<indent> *)[*x+-] (?P<name>\w+)(?:\((?P<bases>[\w, ]+)\))?")


def _diagram() -> dict[str, tuple[str | None, list[str]]]:
    """``{class name: (parent in the diagram, bases written in parentheses)}``."""
    doc = _exceptions.__doc__ or ""
    tree = doc.split("The tree::", 1)[1].split("\n\n")[1]
    parents: list[tuple[int, str]] = []
    found: dict[str, tuple[str | None, list[str]]] = {}
    for line in tree.splitlines():
        match = _LINE.match(line.strip("\n"))
        if match is None:
            continue  # a continued description
        indent = len(match["indent"])
        while parents and parents[-1][0] >= indent:
            parents.pop()
        bases = [b.strip() for b in (match["bases"] or "").split(",") if b.strip()]
        found[match["name"]] = (parents[-1][1] if parents else None, bases)
        parents.append((indent, match["name"]))
    return found


DIAGRAM = _diagram()
CLASSES = sorted(
    n for n in _exceptions.__all__ if isinstance(getattr(_exceptions, n), type) and n != "Attempt"
)


def test_the_diagram_lists_every_exception_and_warning() -> None:
    assert sorted(DIAGRAM) == CLASSES
    assert len(CLASSES) >= 18


@pytest.mark.parametrize("name", CLASSES)
def test_each_class_has_the_parent_the_diagram_shows(name: str) -> None:
    cls = getattr(_exceptions, name)
    parent, bases = DIAGRAM[name]
    expected = [getattr(_exceptions, parent)] if parent else []
    expected += [getattr(_exceptions, b, None) or getattr(builtins, b) for b in bases if b != parent]
    assert list(cls.__bases__) == (expected or [Exception])


def test_the_roots() -> None:
    assert DIAGRAM["SessionError"] == (None, [])
    assert issubclass(_exceptions.SessionError, Exception)
    assert DIAGRAM["HASessionWarning"] == (None, ["Warning"])


@pytest.mark.parametrize("name", _exceptions.__all__)
def test_no_builtin_is_shadowed(name: str) -> None:
    assert not hasattr(builtins, name)


def test_a_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad"):
        raise ConfigurationError("bad")


def test_session_data_errors_carry_the_payload_and_cause() -> None:
    cause = ValueError("inner")
    err = TamperedSession("bad tag", payload=b"raw", original_error=cause)
    assert (err.payload, err.original_error, str(err)) == (b"raw", cause, "bad tag")
    assert (SessionDataError("x").payload, SessionDataError("x").original_error) == (None, None)


def test_store_unavailable_carries_attempts_and_retry_after() -> None:
    attempt = Attempt(StoreTimeout("slow"), "10.0.0.1:6379", 12.5)
    err = StoreUnavailable("down", attempts=(attempt,), retry_after=9)
    assert (err.attempts, err.retry_after, str(err)) == ((attempt,), 9, "down")
    assert (StoreUnavailable("x").attempts, StoreUnavailable("x").retry_after) == ((), 5)
    assert MasterNotFound("x").attempts == ()


@pytest.mark.parametrize(
    ("cls", "not_applied"),
    [
        (MasterNotFound, True),
        (FailoverInProgress, True),
        (StoreConnectionError, False),
        (StoreTimeout, False),  # a write may have landed
        (NotReplicated, False),  # it landed on the master, maybe not on a replica
        (StoreUnavailable, False),
    ],
)
def test_which_failures_are_known_not_applied(cls: type[StoreUnavailable], not_applied: bool) -> None:
    assert cls("x").not_applied is not_applied


def test_attempt_is_a_frozen_value() -> None:
    attempt = Attempt(StoreTimeout("slow"), "a:1", 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        attempt.at = 2.0  # type: ignore[misc]


def test_every_store_error_is_a_session_error() -> None:
    for name in CLASSES:
        cls = getattr(_exceptions, name)
        if issubclass(cls, StoreError):
            assert issubclass(cls, _exceptions.SessionError)
