"""``hasession switchover``: move the master to a caught-up replica without losing a write."""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from .. import SessionStore
from ._common import described, resolve_url, sentinel_url, url_arguments

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    parser = described(
        sub,
        "switchover",
        "move the master to a replica without losing a write",
        "Planned switchover of a Sentinel-managed master: writes pause on the old master until a "
        "replica has caught up, then Sentinel promotes it. Run it before maintenance of the master.",
    )
    url_arguments(parser, "a redis+sentinel:// URL")
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="give up after this many seconds"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    url = resolve_url(args)
    sentinel_url(url, "switchover")
    with SessionStore.from_url(url, secret_keys=secrets.token_bytes(32)) as store:
        result = store.switchover(timeout=args.timeout)
    paused = result.paused_seconds * 1000
    print(f"master moved from {result.old} to {result.new}; writes paused {paused:.0f} ms")
    return 0
