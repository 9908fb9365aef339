"""The ``hasession`` command line."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hasession`` command."""
    raise SystemExit("hasession: the CLI is not built yet")
