"""The ``hasession`` command line: ``demo``, ``drill``, ``switchover`` and ``chaos``.

Needs the ``cli`` extra (``pip install hasession[cli]``) for the demo's web server and client.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["main"]


def _switchover_parser(sub: Any) -> None:
    parser = sub.add_parser("switchover", help="move the master to a replica without losing a write")
    parser.add_argument("url", help="a redis+sentinel:// URL")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.set_defaults(func=_switchover)


def _switchover(args: argparse.Namespace) -> int:
    import secrets

    from .. import SessionStore

    with SessionStore.from_url(args.url, secret_keys=secrets.token_bytes(32)) as store:
        result = store.switchover(timeout=args.timeout)
    print(
        f"master moved from {result.old} to {result.new}; writes paused {result.paused_seconds * 1000:.0f} ms"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hasession`` command."""
    parser = argparse.ArgumentParser(prog="hasession", description="Redis sessions that survive failovers.")
    sub = parser.add_subparsers(required=True, metavar="command")
    try:
        from . import chaos, demo, drill
    except ImportError as exc:  # pragma: no cover - depends on the install
        print(f"hasession: the command line needs the 'cli' extra: pip install 'hasession[cli]' ({exc})")
        return 2
    demo.add_parser(sub)
    drill.add_parser(sub)
    _switchover_parser(sub)
    chaos.add_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
