"""``hasession drill``: rehearse a failover on a real deployment and report session continuity.

Simulated users keep sessions in the store named by the URL, under a key prefix of their own,
through a steady phase and a fault phase, then the drill reports errors, lost writes, lost
sessions and the longest wait. It moves the master only when asked (``--fault ... --yes``).
Everything it writes expires, and it deletes what it wrote at the end.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import RetryPolicy, SessionPolicy, SessionStore, StoreError
from .._commands import Batch, Call, Eval, Flow
from .._scripts import CANARY
from .._topology import Sentinel
from ._common import CommandError, described, hold_budget_argument, resolve_url, sentinel_url, url_arguments
from ._report import Run, render_html
from ._users import Board, Outcome, Phase, run_users

__all__ = ["add_parser", "run"]

FAULTS = ("none", "switchover", "sentinel-failover")
#: Seconds the drill's tombstones outlive their sessions (the store's default is an hour).
TOMBSTONE_SECONDS = 60
STEADY_SECONDS = 2.0


def add_parser(sub: Any) -> None:
    parser = described(
        sub,
        "drill",
        "rehearse a failover against a real deployment",
        "Simulated users keep sessions in the store named by the URL (under a key prefix of their "
        "own, hasession-drill-<random>:) through a steady phase and a fault phase, and the drill "
        "reports what they saw; it exits 1 if any user saw an error, a lost write or a lost session. "
        "With --fault none (the default) the drill moves nothing: trigger the failover yourself "
        "during the fault phase. Any other fault moves the real master and needs --yes. Everything "
        "the drill writes expires, and is deleted at the end.",
    )
    url_arguments(parser, "the deployment, e.g. redis+sentinel://h1:26379,h2:26379/mymaster")
    parser.add_argument("--users", type=int, default=20, metavar="N", help="simulated users")
    parser.add_argument(
        "--seconds", type=float, default=10.0, metavar="SECONDS", help="length of the fault phase"
    )
    parser.add_argument(
        "--fault",
        choices=FAULTS,
        default="none",
        help="the failover the drill triggers: none (you trigger one), switchover (hasession's "
        "loss-free switch) or sentinel-failover (SENTINEL FAILOVER); all but none need --yes",
    )
    parser.add_argument(
        "--yes", action="store_true", help="confirm that the drill may move the master of this deployment"
    )
    hold_budget_argument(parser, "how long a request may be held through a failover")
    parser.add_argument("--report", type=Path, metavar="FILE", help="write a self-contained HTML report")
    parser.set_defaults(func=run)


class DrillUser:
    """A user whose every step loads its session, increments a counter and saves."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        session = store.open(None)
        session.update(count=0, drill=True)
        self.cookie = store.save(session).value

    def step(self) -> Outcome:
        started = time.monotonic()
        try:
            current = self.store.load(self.cookie)
            if current.new:
                return Outcome("ok", None, False, started, time.monotonic() - started)
            current["count"] = current.get("count", 0) + 1
            self.store.save(current)
        except StoreError as exc:
            return Outcome(type(exc).__name__, None, True, started, time.monotonic() - started)
        return Outcome("ok", current["count"], True, started, time.monotonic() - started)

    def leave(self) -> None:
        """Delete the session (its tombstone expires after ``TOMBSTONE_SECONDS``)."""
        session = self.store.load(self.cookie)
        if not session.new:
            session.destroy()
            self.store.save(session)


def run(args: argparse.Namespace) -> int:
    url = resolve_url(args)
    if args.fault != "none":
        if not args.yes:
            raise CommandError(
                f"--fault {args.fault} moves the master of this deployment: add --yes to confirm"
            )
        sentinel_url(url, f"--fault {args.fault}")
    prefix = f"hasession-drill-{secrets.token_hex(4)}"
    lifetime = int(STEADY_SECONDS + args.seconds + 3 * args.hold_budget) + 120
    store = SessionStore.from_url(
        url,
        secret_keys=secrets.token_bytes(32),
        session=SessionPolicy(
            key_prefix=prefix,
            idle_timeout=lifetime,
            absolute_timeout=lifetime,
            touch_interval=0,
            tombstone_ttl=TOMBSTONE_SECONDS,
        ),
        retry=RetryPolicy(hold_budget=args.hold_budget),
    )
    with store:
        try:
            store._run(_expiring_canary(prefix, lifetime), budget=min(args.hold_budget, 5.0))
        except StoreError as exc:
            raise CommandError(f"cannot use {store.config.topology}: {exc}") from None
        where = f"keys under {prefix}:, expiring within {lifetime} s"
        print(f"drill on {store.config.topology} with {args.users} users ({where})")
        users = [DrillUser(store) for _ in range(args.users)]
        fault = _faults(store)[args.fault]
        name = f"fault: {args.fault}" if fault else "fault phase (trigger your failover now)"
        plan = [Phase("steady load", None, settle=STEADY_SECONDS), Phase(name, fault, settle=args.seconds)]
        board = Board()
        tallies = run_users([user.step for user in users], plan, print, board)
        _clean_up(store, users, prefix)
    if args.report is not None:
        drilled = Run(
            label=f"drill on {store.config.topology}",
            tallies=tallies,
            events=board.events,
            started=board.started,
        )
        args.report.write_text(render_html("hasession drill", [drilled]))
        print(f"report written to {args.report}")
    bad = sum(t.errors() + t.lost_writes + t.lost_sessions for t in tallies.values())
    print("PASS: users saw nothing" if bad == 0 else f"FAIL: users saw {bad} problems")
    return 0 if bad == 0 else 1


def _expiring_canary(prefix: str, seconds: int) -> Flow[object]:
    """Plant the store's canary key now, with a TTL: the store alone would keep it forever."""
    key = f"{prefix}:canary"
    yield Batch((Eval(CANARY, (key,), (secrets.token_hex(8),)), Call(("EXPIRE", key, seconds))), route=key)
    return None


def _clean_up(store: SessionStore, users: list[DrillUser], prefix: str) -> None:
    try:
        for user in users:
            user.leave()
        store._run(_delete(f"{prefix}:canary"))
    except StoreError as exc:
        print(f"could not delete every key under {prefix}: ({exc}); they expire on their own")


def _delete(key: str) -> Flow[object]:
    yield Batch((Call(("DEL", key)),), route=key)
    return None


def _faults(store: SessionStore) -> dict[str, Callable[[], object] | None]:
    return {
        "none": None,
        "switchover": store.switchover,
        "sentinel-failover": lambda: _sentinel_failover(store),
    }


def _sentinel_failover(store: SessionStore) -> None:
    import redis

    topology = store.config.topology
    assert isinstance(topology, Sentinel)  # checked before the drill began
    first, options = topology.sentinels[0], topology.sentinel_options
    password = options.password.reveal().decode() if options.password else None
    with redis.Redis(
        host=first.host, port=first.port, username=options.username, password=password, ssl=options.tls
    ) as client:
        client.execute_command("SENTINEL", "FAILOVER", topology.master_name)
