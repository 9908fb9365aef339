"""Where a subject's server spends its CPU: py-spy samples of one server under the bench's load.

    .venv/bin/python -m bench.peers.profile aiohttp [--variant hasession] [--scenario read] [--seconds 15]

Starts the Sentinel topology and the one server, gives every user a session, then drives reads (or writes)
while ``py-spy record`` samples the server (its children too, for gunicorn). Prints the functions with the
most samples on the stack (inclusive) and at the top of it (self), as a share of all samples, so that two
runs before and after a change can be compared. Needs ``py-spy`` (``pip install py-spy``) and ptrace rights.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hasession.testing import SentinelTopology

from .common import PATHS, VARIANTS
from .harness import FRAMEWORKS, User, start, wait_ready


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.profile", description=__doc__)
    parser.add_argument("framework", choices=list(FRAMEWORKS))
    parser.add_argument("--variant", choices=VARIANTS, default="hasession")
    parser.add_argument("--scenario", choices=("read", "write"), default="read")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="list only frames whose text contains this")
    return parser.parse_args()


async def drive(base: str, users: int, scenario: str, until: float) -> int:
    crowd = [User(base) for _ in range(users)]
    count = 0
    try:
        await asyncio.gather(*(user.get(PATHS[0]) for user in crowd))
        while time.monotonic() < until:
            await asyncio.gather(*(user.run(scenario, 10) for user in crowd))
            count += 10 * users
    finally:
        for user in crowd:
            await user.close()
    return count


def summarize(raw: Path, top: int, match: str) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame for frame in stack.split(";") if not frame.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title} (share of {total} samples)")
        shown = [(frame, n) for frame, n in counter.most_common() if match in frame][:top]
        for frame, samples in shown:
            print(f"{samples / total * 100:6.1f}%  {frame}")


def main() -> None:
    args = arguments()
    with (
        tempfile.TemporaryDirectory(prefix="bench-profile-") as folder,
        SentinelTopology(replicas=1) as topology,
    ):
        server = start(FRAMEWORKS[args.framework], args.variant, topology, Path(folder))
        try:
            wait_ready(server)
            raw = Path(folder) / "raw.txt"
            spy_py = str(Path(sys.executable).with_name("py-spy"))
            record = [spy_py, "record", "--pid", str(server.process.pid), "--subprocesses", "--function"]
            record += [
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(raw),
                "--duration",
                str(args.seconds),
            ]
            record += ["--nonblocking"]
            spy = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)  # py-spy attaches
            count = asyncio.run(
                drive(server.base, args.users, args.scenario, time.monotonic() + args.seconds)
            )
            _, errors = spy.communicate(timeout=60)
            if spy.returncode != 0:
                sys.exit(f"py-spy failed: {errors.decode(errors='replace')}")
        finally:
            server.stop()
        print(f"{args.framework}/{args.variant}, {args.scenario}: {count} requests in about {args.seconds} s")
        summarize(raw, args.top, args.match)


if __name__ == "__main__":
    main()
