"""``python -m bench.peers``: the session cost of hasession and of each framework's peer, on real servers.

Writes ``bench/results/<date>.json``, ``<date>.md`` (the tables) and ``<date>.png`` (the chart), and prints
the tables. bench/README.md explains the method.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from hasession.testing import SentinelTopology

from . import report
from .harness import FRAMEWORKS, FrameworkResult, measure, progress

PACKAGES = (
    "hasession", "redis", "hiredis", "uvicorn", "gunicorn", "starlette", "fastapi", "flask", "django",
    "aiohttp", "starsessions", "Flask-Session", "django-redis", "aiohttp-session",
)  # fmt: skip


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated (default: all)")
    parser.add_argument("--users", type=int, default=20, help="concurrent users, each with its own cookies")
    parser.add_argument("--per-user", type=int, default=100, help="requests per user per burst")
    parser.add_argument("--rounds", type=int, default=6, help="rounds; each runs every subject once")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds of 20 requests per user")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "results")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.per_user = 2, 20
    unknown = set(args.frameworks.split(",")) - set(FRAMEWORKS)
    if unknown:
        parser.error(f"unknown frameworks: {', '.join(sorted(unknown))}")
    return args


def package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def header(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.peers", *sys.argv[1:]]),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": os.getloadavg(),
        },
        "packages": {name: package(name) for name in PACKAGES},
        "load": {"users": args.users, "requests_per_user_per_burst": args.per_user, "rounds": args.rounds},
    }


async def run(args: argparse.Namespace, topology: SentinelTopology, logs: Path) -> list[FrameworkResult]:
    results = []
    for name in args.frameworks.split(","):
        progress(f"{name}: starting its three servers")
        results.append(
            await measure(
                FRAMEWORKS[name],
                topology,
                users=args.users,
                per_user=args.per_user,
                rounds=args.rounds,
                logs=logs,
            )
        )
    return results


def main() -> None:
    args = arguments()
    info = header(args)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as logs, SentinelTopology(replicas=1) as topology:
        results = asyncio.run(run(args, topology, Path(logs)))
    info["machine"]["load_average_after"] = os.getloadavg()
    info["seconds"] = round(time.monotonic() - began)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M")
    report.write_json(stem.with_suffix(".json"), info, results)
    summaries = {result.framework.name: report.summarize(result) for result in results}
    tables = report.markdown(summaries)
    load = ", ".join(f"{x:.2f}" for x in info["machine"]["load_average_before"])
    title = (
        f"{info['date']}, {info['machine']['cores']} cores, load before {load}; {args.users} users, "
        f"{args.rounds} rounds of {args.per_user} requests per user"
    )
    stem.with_suffix(".md").write_text(f"{title}\n\n{tables}")
    report.chart(stem.with_suffix(".png"), summaries, title)
    print(f"{title}\n\n{tables}\nwritten: {stem}.json, .md, .png")


if __name__ == "__main__":
    main()
