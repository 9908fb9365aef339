"""What every harness object that runs processes shares: ``with`` starts it and always stops it."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

__all__ = ["Started"]

StartedT = TypeVar("StartedT", bound="Started")


class Started:
    """``with obj as started:`` calls :meth:`start` (which returns the object) and, on the way out,
    :meth:`stop`, even on failure."""

    def start(self: StartedT) -> StartedT:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: StartedT) -> StartedT:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
