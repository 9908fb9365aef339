"""Playing the nodes of a flow whose every batch names its node (discovery, probes, slot map refresh)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hasession._commands import Batch, Flow
from hasession._exceptions import StoreError

T = TypeVar("T")


def play(flow: Flow[T], answer: Callable[[Batch], Any]) -> T:
    """Run ``flow`` to its end: ``answer(batch)`` is the batch's replies, or a :class:`StoreError` that is
    thrown into the flow (as the drivers do for a node that failed)."""
    value: Any = None
    error: StoreError | None = None
    while True:
        try:
            batch = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        assert batch.node is not None
        assert not batch.write
        replies = answer(batch)
        value, error = (None, replies) if isinstance(replies, StoreError) else (replies, None)
