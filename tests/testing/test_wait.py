"""wait_until: the one polling helper."""

from __future__ import annotations

import itertools

import pytest
import redis

from hasession.testing import StartupError, WaitTimeout, wait_until


def test_returns_the_first_truthy_value() -> None:
    calls = itertools.count()
    assert (
        wait_until(lambda: next(calls) >= 3 and "done", timeout=5, message="three calls", interval=0)
        == "done"
    )


def test_transient_errors_count_as_not_yet() -> None:
    attempts = iter([redis.ConnectionError("refused"), OSError("reset"), None])

    def condition() -> str:
        error = next(attempts)
        if error is not None:
            raise error
        return "up"

    assert wait_until(condition, timeout=5, message="up", interval=0) == "up"


def test_timeout_names_the_condition_the_last_error_and_the_details() -> None:
    def refused() -> None:
        raise redis.ConnectionError("Connection refused")

    with pytest.raises(WaitTimeout) as caught:
        wait_until(refused, timeout=0.05, message="the node to answer", details=lambda: "LOG TAIL")
    text = str(caught.value)
    assert "the node to answer" in text
    assert "Connection refused" in text
    assert text.endswith("LOG TAIL")
    assert isinstance(caught.value, TimeoutError)


def test_other_errors_propagate_at_once() -> None:
    def broken() -> None:
        raise ValueError("bug")

    with pytest.raises(ValueError, match="bug"):
        wait_until(broken, timeout=5, message="never")


def test_error_class_can_be_chosen() -> None:
    with pytest.raises(StartupError):
        wait_until(lambda: None, timeout=0.01, message="never", error=StartupError)
