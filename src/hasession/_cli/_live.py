"""The live terminal view of ``hasession demo``: requests per second, held requests, errors,
the current master and the failover events, redrawn four times a second with rich."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ._users import Board

__all__ = ["LiveView"]


class LiveView:
    """A rich ``Live`` display of a :class:`Board`, while a block runs.

    :param board: what the simulated users are doing.
    :param label: which app is under load.
    :param master: returns the current master's address (polled in a thread: it may block).
    """

    def __init__(self, board: Board, label: str, master: Callable[[], str]) -> None:
        self.board, self.label, self._master = board, label, master
        self.master = "?"
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._live: Any = None

    def __enter__(self) -> LiveView:
        from rich.live import Live

        self._poller.start()
        self._live = Live(get_renderable=self.render, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._live.__exit__(kind, exc, tb)
        self._poller.join(5)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                found = self._master()
            except Exception:  # no master while Sentinel elects one: show it as such
                found = "(none: failing over)"
            if found != self.master and self.master != "?":
                self.board.event(f"master {self.master} -> {found}")
            self.master = found
            self._stop.wait(0.5)

    def render(self) -> Any:
        from rich.table import Table

        board = self.board
        table = Table(title=f"hasession demo: {self.label}", show_header=False, min_width=60)
        table.add_row("requests/s", f"{board.rps():.0f}")
        table.add_row("held now (> 0.25 s)", str(board.held()))
        table.add_row("errors seen by users", str(board.errors))
        table.add_row("master", self.master)
        with board.lock:
            events = list(board.events[-6:])
        for at, text in events:
            table.add_row(f"+{at - board.started:5.1f} s", text)
        return table

    @staticmethod
    def available() -> bool:
        """Whether rich is installed (the ``cli`` extra)."""
        try:
            import rich  # noqa: F401
        except ImportError:
            return False
        return True
