"""The one polling helper every "wait until" in the harness goes through."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import redis

from ._errors import HarnessError, WaitTimeout

__all__ = ["TRANSIENT_ERRORS", "wait_until"]

T = TypeVar("T")

#: Errors that only mean "not yet": a node still starting, paused, or just killed.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    message: str,
    interval: float = 0.015,
    details: Callable[[], str] | None = None,
    error: type[HarnessError] = WaitTimeout,
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns a truthy value, and return it.

    A condition that raises one of ``TRANSIENT_ERRORS`` (a Redis or socket error) counts as "not yet".
    When ``timeout`` seconds pass first, raise ``error`` (``WaitTimeout`` by default) with ``message``,
    the last transient error and, if given, the text that ``details()`` returns (log tails, usually).

    :param condition: checked once at once, then after each ``interval``.
    :param timeout: seconds to wait in total.
    :param message: what was awaited, as in ``"replicas in sync"``.
    :param interval: seconds between two checks.
    :param details: called once on timeout, for extra context.
    :param error: the exception class to raise on timeout.

    .. versionadded:: 0.1
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
        except TRANSIENT_ERRORS as exc:
            result, last_error = None, exc
        if result:
            return result
        if time.monotonic() >= deadline:
            raise error(_timeout_message(message, timeout, last_error, details))
        time.sleep(interval)


def _timeout_message(
    message: str, timeout: float, last_error: BaseException | None, details: Callable[[], str] | None
) -> str:
    text = f"timed out after {timeout:.1f}s waiting for {message}"
    if last_error is not None:
        text += f" (last error: {type(last_error).__name__}: {last_error})"
    if details is not None:
        text += "\n" + details()
    return text
