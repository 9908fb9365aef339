"""``hasession demo``: watch a Redis failover from the users' side, with and without hasession.

It starts a real Sentinel group on this machine (1 master, 2 replicas, 3 Sentinels), puts the
same small web app in front of it twice (a typical session store, then hasession), lets
simulated users click through master failures, and reports what those users saw.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import AsyncSessionStore, InsecureCookieWarning, SessionStore
from ..testing import HarnessError, SentinelTopology
from ._common import CLI_EXTRA, CommandError, described, hold_budget_argument, require_extra
from ._live import LiveView
from ._report import Run, render_html, summary
from ._users import Board, Outcome, Phase, Tally, run_users

__all__ = ["add_parser", "run"]

SECRET = "hasession-demo-secret-not-for-production"


def add_parser(sub: Any) -> None:
    parser = described(
        sub,
        "demo",
        "run a local Sentinel failover demo and report what users saw",
        "Starts local redis-server processes (1 master, 2 replicas, 3 Sentinels, on free loopback "
        "ports, in a temporary folder; all stopped at the end), puts the same small web app in front "
        "of them with a typical session store and with hasession, kills and fails over the master "
        "while simulated users click, and reports what the users saw. Needs redis-server on PATH (or "
        "$HASESSION_REDIS_SERVER) and the cli extra. Touches no other Redis.",
    )
    parser.add_argument("--users", type=int, default=20, metavar="N", help="simulated users")
    parser.add_argument(
        "--down-after-ms",
        type=int,
        default=1000,
        metavar="MS",
        help="Sentinel's down-after-milliseconds: how long a master must be unreachable to be failed over",
    )
    hold_budget_argument(parser, "how long a request may be held through a failover")
    parser.add_argument(
        "--skip-baseline", action="store_true", help="only run the hasession app, not the typical store"
    )
    parser.add_argument(
        "--durability",
        choices=["async", "replicated"],
        default="async",
        help="hasession's DurabilityPolicy mode",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON (progress to stderr)")
    parser.add_argument("--report", type=Path, metavar="FILE", help="write a self-contained HTML report")
    parser.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="live terminal view (default: on a terminal, when rich is installed)",
    )
    parser.set_defaults(func=run)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port, in a thread."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def http_user(base: str, name: str) -> Callable[[], Outcome]:
    """A user of the demo app: signs in, then each step is one click on the counter."""
    import httpx

    client = httpx.Client(base_url=base, timeout=30.0)
    for _ in range(50):
        if client.post("/login", json={"user": name}).status_code == 200:
            break
        time.sleep(0.1)

    def step() -> Outcome:
        started = time.monotonic()
        try:
            reply = client.post("/count")
        except httpx.HTTPError as exc:
            return Outcome(type(exc).__name__, None, True, started, time.monotonic() - started)
        took = time.monotonic() - started
        if reply.status_code == 200:
            return Outcome("ok", reply.json()["count"], True, started, took)
        if reply.status_code == 401:
            return Outcome("ok", None, False, started, took)
        return Outcome(str(reply.status_code), None, True, started, took)

    return step


def phases(topology: SentinelTopology, *, planned: Callable[[], object] | None) -> list[Phase]:
    def kill() -> None:
        old = topology.kill_master()
        topology.wait_for_new_master(old)
        topology.restart(old)

    found = [
        Phase("steady load", None),
        Phase("kill -9 of the master", kill, settle=3.0),
        Phase("SENTINEL FAILOVER", topology.failover, settle=3.0),
    ]
    if planned is not None:
        found.append(Phase("hasession switchover", planned, settle=3.0))
    return found


def run_app(
    label: str, app: Any, users: int, plan: list[Phase], view: Callable[[Board], Any] | None = None
) -> Run:
    """Serve ``app``, put ``users`` through the phases, and return what they saw."""
    say(f"\n== {label}")
    with serve(app) as base:
        steps = [http_user(base, f"user{i}") for i in range(users)]
        board = Board()
        if view is None:
            tallies = run_users(steps, plan, say, board)
        else:
            with view(board):
                tallies = run_users(steps, plan, say, board)
    return Run(label=label, tallies=tallies, events=list(board.events), started=board.started)


#: Where progress goes: stdout, or stderr when stdout carries the JSON summary.
_out = [sys.stdout]


def say(text: str) -> None:
    print(text, file=_out[0], flush=True)


def run(args: argparse.Namespace) -> int:
    require_extra("cli", *CLI_EXTRA)
    try:
        return _run(args)
    except HarnessError as exc:  # no redis-server, or it did not start: say so, without a traceback
        raise CommandError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    from .. import DurabilityPolicy, RetryPolicy
    from ._apps import baseline_app, hasession_app

    _out[0] = sys.stderr if args.json else sys.stdout
    live = args.live if args.live is not None else sys.stdout.isatty() and LiveView.available()
    started = time.monotonic()
    with SentinelTopology(replicas=2, sentinels=3, down_after_ms=args.down_after_ms) as topology:
        say(f"Sentinel group ready in {time.monotonic() - started:.1f} s: {topology.url}")

        def view(label: str) -> Callable[[Board], Any] | None:
            master = topology.current_master
            return (lambda b: LiveView(b, label, lambda: _address(master(timeout=1.0)))) if live else None

        runs: list[Run] = []
        if not args.skip_baseline:
            app = baseline_app(topology.sentinel_addresses, topology.master_name)
            label = "typical store (redis-py Sentinel)"
            runs.append(run_app(label, app, args.users, phases(topology, planned=None), view(label)))
        store = AsyncSessionStore.from_url(
            topology.url,
            secret_keys=SECRET,
            retry=RetryPolicy(hold_budget=args.hold_budget),
            durability=DurabilityPolicy(mode=args.durability),
        )
        warnings.simplefilter("ignore", InsecureCookieWarning)  # the demo serves plain http on 127.0.0.1
        operator = SessionStore.from_url(topology.url, secret_keys=SECRET)
        plan = phases(topology, planned=operator.switchover)
        runs.append(run_app("hasession", hasession_app(store), args.users, plan, view("hasession")))
        operator.close()
    report({r.label: r.tallies for r in runs})
    return _finish(args, runs)


def _address(node: Any) -> str:
    return f"{node.host}:{node.port}"


def _finish(args: argparse.Namespace, runs: list[Run]) -> int:
    """Write the JSON and HTML outputs; fail when hasession's users saw an error or lost data."""
    if args.json:
        print(json.dumps(summary(runs), indent=2))
    if args.report is not None:
        args.report.write_text(render_html("hasession demo: a Redis failover seen by users", runs))
        say(f"report written to {args.report}")
    problems = runs[-1].problems()
    say("PASS: hasession's users saw nothing" if problems == 0 else f"FAIL: hasession's users saw {problems}")
    return 0 if problems == 0 else 1


def report(results: dict[str, dict[str, Tally]]) -> None:
    say("\n== What the users saw")
    columns = ("phase", "requests", "errors", "lost writes", "lost sessions", "longest wait")
    say(f"{'':36} {columns[0]:24} " + " ".join(f"{c:>13}" for c in columns[1:]))
    for label, tallies in results.items():
        for name, tally in tallies.items():
            row = (len(tally.outcomes), tally.errors(), tally.lost_writes, tally.lost_sessions)
            say(f"{label:36} {name:24} " + " ".join(f"{v:>13}" for v in row) + f" {tally.blackout():>12.2f}s")
