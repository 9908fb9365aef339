"""``hasession drill URL``: rehearse a failover on a real deployment and report session continuity.

Simulated users keep sessions in the store named by URL (under their own key prefix) while the
drill triggers a failover (``--fault``), or while you trigger one yourself (``--fault none``),
then reports errors, lost writes, lost sessions and the longest wait.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import RetryPolicy, SessionPolicy, SessionStore, StoreError
from ._report import Run, render_html
from ._users import Board, Outcome, Phase, run_users

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("drill", help="rehearse a failover against a real deployment")
    parser.add_argument("url", help="hasession URL, e.g. redis+sentinel://h1:26379,h2:26379/mymaster")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0, help="load time after the fault")
    parser.add_argument("--fault", choices=["switchover", "sentinel-failover", "none"], default="switchover")
    parser.add_argument("--hold-budget", type=float, default=10.0)
    parser.add_argument("--report", type=Path, metavar="FILE", help="write a self-contained HTML report")
    parser.set_defaults(func=run)


def store_user(store: SessionStore) -> Callable[[], Outcome]:
    """A user whose every step loads its session, increments a counter and saves."""
    session = store.open(None)
    session.update(count=0, drill=True)
    cookie = store.save(session).value

    def step() -> Outcome:
        started = time.monotonic()
        try:
            current = store.load(cookie)
            if current.new:
                return Outcome("ok", None, False, started, time.monotonic() - started)
            current["count"] = current.get("count", 0) + 1
            store.save(current)
        except StoreError as exc:
            return Outcome(type(exc).__name__, None, True, started, time.monotonic() - started)
        return Outcome("ok", current["count"], True, started, time.monotonic() - started)

    return step


def run(args: argparse.Namespace) -> int:
    prefix = f"hasession-drill-{secrets.token_hex(4)}"
    store = SessionStore.from_url(
        args.url,
        secret_keys=secrets.token_bytes(32),
        session=SessionPolicy(key_prefix=prefix, idle_timeout=600, absolute_timeout=600),
        retry=RetryPolicy(hold_budget=args.hold_budget),
    )
    fault = {
        "switchover": store.switchover,
        "sentinel-failover": lambda: _sentinel_failover(store),
        "none": None,
    }
    plan = [Phase("steady load", None), Phase(f"fault: {args.fault}", fault[args.fault], settle=args.seconds)]
    print(f"drill on {store.config.topology} with {args.users} users (keys under {prefix}:)")
    board = Board()
    tallies = run_users([store_user(store) for _ in range(args.users)], plan, print, board)
    store.close()
    if args.report is not None:
        run_ = Run(
            label=f"drill on {store.config.topology}",
            tallies=tallies,
            events=board.events,
            started=board.started,
        )
        args.report.write_text(render_html("hasession drill", [run_]))
        print(f"report written to {args.report}")
    bad = sum(t.errors() + t.lost_writes + t.lost_sessions for t in tallies.values())
    print("PASS: users saw nothing" if bad == 0 else f"FAIL: users saw {bad} problems")
    return 0 if bad == 0 else 1


def _sentinel_failover(store: SessionStore) -> None:
    from .._sentinel import SentinelRouter

    router = store._router  # the drill is part of the library: it may use the router's view
    if not isinstance(router, SentinelRouter):
        raise SystemExit("--fault sentinel-failover needs a Sentinel URL")
    import redis

    host, port = router.sentinels[0].host, router.sentinels[0].port
    client = redis.Redis(host=host, port=port)
    client.execute_command("SENTINEL", "FAILOVER", router.master_name)  # type: ignore[no-untyped-call]
