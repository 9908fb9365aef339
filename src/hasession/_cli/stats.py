"""``hasession stats``: count, memory and TTL spread of the stored sessions (see ``sessions.py``)."""

from __future__ import annotations

from .sessions import add_stats_parser as add_parser

__all__ = ["add_parser"]
