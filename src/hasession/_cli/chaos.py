"""``hasession chaos``: run a seeded, randomized fault campaign on a local topology and check what users saw.

Exit status 0 when the checker found no violation, 1 otherwise (the seed, the schedule and the command that
replays it are printed). See :mod:`hasession.testing.chaos`.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import described, hold_budget_argument

if TYPE_CHECKING:
    from ..testing.chaos import Report

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    parser = described(
        sub,
        "chaos",
        "run a randomized fault campaign on a local topology",
        "Starts local redis-server processes (a proxied Sentinel topology or a Cluster), runs simulated "
        "users on both drivers while a schedule of random faults drawn from the seed breaks the topology, "
        "then checks what the users saw. Exit status 1 on a violation; the seed and schedule replay it.",
    )
    parser.add_argument(
        "--topology", choices=["sentinel", "cluster"], default="sentinel", help="what to start"
    )
    parser.add_argument(
        "--durability", choices=["async", "replicated"], default="replicated", help="the store's durability"
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, metavar="SECONDS", help="how long faults are scheduled"
    )
    parser.add_argument(
        "--seed", type=int, default=None, metavar="N", help="draws the schedule (None: random)"
    )
    parser.add_argument("--users", type=int, default=8, metavar="N", help="simulated users")
    hold_budget_argument(parser, "the store's hold budget")
    parser.add_argument("--schedule", type=Path, default=None, help="replay a schedule saved as JSON")
    parser.add_argument("--report", type=Path, default=None, help="write the report here (.json: as JSON)")
    parser.add_argument(
        "--minimize",
        action="store_true",
        help="on a violation, replay only the faults around the first one, and print them if that fails too",
    )
    parser.add_argument("--quiet", action="store_true", help="print the report only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..testing.chaos import Campaign, Schedule

    schedule = Schedule.from_json(args.schedule.read_text()) if args.schedule is not None else None
    seed = schedule.seed if schedule is not None else args.seed
    seed = seed if seed is not None else secrets.randbelow(1_000_000)
    campaign = Campaign(
        topology=schedule.topology if schedule is not None else args.topology,
        durability=args.durability,
        seconds=schedule.seconds if schedule is not None else args.seconds,
        seed=seed,
        users=args.users,
        hold_budget=args.hold_budget,
        schedule=schedule,
    )
    log = (lambda line: None) if args.quiet else _print
    log(f"chaos: {campaign.command()}")
    report = campaign.run(log=log)
    text = report.describe()
    print(text)
    if args.report is not None:
        args.report.write_text(report.to_json() if args.report.suffix == ".json" else text + "\n")
    if not report.ok and args.minimize:
        _minimize(report, log)
    return 0 if report.ok else 1


def _minimize(report: Report, log: Callable[[str], None]) -> None:
    smaller = report.reduced_schedule()
    if smaller is None:
        print("minimize: the first violation overlapped no fault; nothing to reduce")
        return
    print(f"minimize: replaying {len(smaller.events)} of {len(report.schedule.events)} faults")
    again = replace(report.campaign, schedule=smaller, seconds=smaller.seconds).run(log=log)
    if again.ok:
        print("minimize: the reduced schedule did not fail; keep the full one")
        return
    print(again.describe(limit=5))
    print("minimize: the reduced schedule as JSON (save it and replay it with --schedule FILE):")
    print(smaller.to_json())


def _print(line: str) -> None:
    print(line, flush=True)
