"""CPU per request of the store's request cycle, this checkout against another one (A/B), interleaved.

    .venv/bin/python bench/transport.py [--n 2000] [--rounds 5] [--topology standalone|sentinel]
                                        [--against DIR] [--durability async|replicated]

One topology (``hasession.testing``: one ``redis-server``, or a master, a replica and three Sentinels), one
task or thread, loopback. For a read (open, load, read one key, save unchanged) and a one-key write (open,
load, set one key, save), on both drivers, it prints the CPU time (``time.thread_time``) per request of the
store: the best, median and worst of ``--rounds`` runs of ``--n`` requests each.

``--canned`` takes the socket out: after the warm-up, each pooled connection answers every batch with the
replies Redis gave the same command during the warm-up (the ``PING`` nonce echoed), so the figures are the
store's own CPU, without the system calls and the event loop's wake-ups, and far less noisy.

``--against DIR`` names another checkout (its ``src`` is put first on ``PYTHONPATH``): every round runs that
checkout's store (``A``) and this one's (``B``), one after the other, each in a fresh process, against the
same servers, and the last column is B's median over A's. The machine may be busy: only figures taken in the
same run, interleaved, compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from peers.common import SESSION  # the session every benchmark keeps (bench/peers)

import hasession
from hasession.testing import RedisServer, SentinelTopology

SECRET = "b" * 32
SCENARIOS = ("async read", "async write", "sync read", "sync write")
HERE = Path(__file__).resolve().parent.parent


def _options(durability: str) -> dict[str, Any]:
    return {"secret_keys": SECRET, "durability": hasession.DurabilityPolicy(mode=durability)}  # type: ignore[arg-type]


class Tape:
    """Records what Redis answered each command of the warm-up, then answers from the record.

    A batch is keyed by its commands' names and script hashes (``EVALSHA <sha>``); its first command is
    the store's ``PING <nonce>``, whose echo is made up from the batch."""

    def __init__(self) -> None:
        self.replies: dict[tuple[bytes, ...], list[Any]] = {}

    @staticmethod
    def _split(packed: bytes) -> tuple[bytes, tuple[bytes, ...]]:
        words = packed.split(b"\r\n")
        nonce, key, i = words[4], [], 5
        while i < len(words) - 1:
            count = int(words[i][1:])
            name = words[i + 2]
            key.append(name + (b" " + words[i + 4] if name == b"EVALSHA" else b""))
            i += 1 + 2 * count
        return nonce, tuple(key)

    def record(self, conn: Any, sync: bool) -> None:
        real = conn.roundtrip

        def keep(packed: bytes, replies: list[Any]) -> list[Any]:
            if packed.startswith(b"*2\r\n$4\r\nPING"):
                self.replies[self._split(packed)[1]] = replies[1:]
            return replies

        async def arecorded(packed: bytes, count: int, timeout: float) -> list[Any]:
            return keep(packed, await real(packed, count, timeout))

        def recorded(packed: bytes, count: int, timeout: float) -> list[Any]:
            return keep(packed, real(packed, count, timeout))

        conn.roundtrip = recorded if sync else arecorded

    def play(self, conn: Any, sync: bool) -> None:
        def answer(packed: bytes) -> list[Any]:
            nonce, key = self._split(packed)
            return [nonce, *self.replies[key]]

        async def aplayed(packed: bytes, count: int, timeout: float) -> list[Any]:
            return answer(packed)

        def played(packed: bytes, count: int, timeout: float) -> list[Any]:
            return answer(packed)

        conn.roundtrip = played if sync else aplayed


def _connections(store: Any) -> list[Any]:
    return [conn for pool in store._pools.values() for conn in pool._idle]


async def _async_cpu(url: str, n: int, durability: str, canned: bool) -> dict[str, float]:
    store = hasession.AsyncSessionStore.from_url(url, **_options(durability))
    session = store.open(None)
    await store.load_into(session)
    session.update(SESSION)
    cookie = (await store.save(session)).value

    async def run(write: bool, count: int) -> float:
        began = time.thread_time()
        for i in range(count):
            session = store.open(cookie)
            await store.load_into(session)
            if write:
                session["counter"] = i
            else:
                session.get("user_id")
            await store.save(session)
        return (time.thread_time() - began) / count * 1e6

    await run(True, 300)  # warm up: discovery, the script cache, the canary
    if canned:
        tape = Tape()
        for conn in _connections(store):
            tape.record(conn, sync=False)
        await run(False, 2)
        await run(True, 2)
        for conn in _connections(store):
            tape.play(conn, sync=False)
    try:
        return {"async read": await run(False, n), "async write": await run(True, n)}
    finally:
        await store.close()


def _sync_cpu(url: str, n: int, durability: str, canned: bool) -> dict[str, float]:
    store = hasession.SessionStore.from_url(url, **_options(durability))
    session = store.open(None)
    session.update(SESSION)
    cookie = store.save(session).value

    def run(write: bool, count: int) -> float:
        began = time.thread_time()
        for i in range(count):
            session = store.open(cookie)
            if write:
                session["counter"] = i
            else:
                session.get("user_id")
            store.save(session)
        return (time.thread_time() - began) / count * 1e6

    run(True, 300)
    if canned:
        tape = Tape()
        for conn in _connections(store):
            tape.record(conn, sync=True)
        run(False, 2)
        run(True, 2)
        for conn in _connections(store):
            tape.play(conn, sync=True)
    try:
        return {"sync read": run(False, n), "sync write": run(True, n)}
    finally:
        store.close()


def worker(url: str, n: int, durability: str, canned: bool) -> None:
    """One round of every scenario, in this process, printed as JSON."""
    figures = asyncio.run(_async_cpu(url, n, durability, canned))
    figures.update(_sync_cpu(url, n, durability, canned))
    print(json.dumps({"source": hasession.__file__, **figures}))


def _round(src: Path, args: argparse.Namespace, url: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--worker", url, "--n", str(args.n), "--durability", args.durability]
    command += ["--canned"] if args.canned else []
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    source = figures.pop("source")
    if not source.startswith(str(src)):
        raise SystemExit(f"{src}: the worker imported {source}")
    return figures  # type: ignore[no-any-return]


def _topology(name: str) -> AbstractContextManager[Any]:
    return RedisServer() if name == "standalone" else SentinelTopology(replicas=1, sentinels=3)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="requests per scenario per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--topology", default="standalone", choices=["standalone", "sentinel"])
    parser.add_argument("--durability", default="async", choices=["async", "replicated"])
    parser.add_argument("--against", type=Path, help="another checkout, measured as A (this one is B)")
    parser.add_argument("--canned", action="store_true", help="replies from a record: the store's own CPU")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.n, args.durability, args.canned)
        return
    subjects = {"B": HERE / "src"}
    if args.against is not None:
        subjects = {"A": args.against.resolve() / "src", **subjects}
    runs: dict[str, dict[str, list[float]]] = {s: {k: [] for k in SCENARIOS} for s in subjects}
    with _topology(args.topology) as topo:
        for _ in range(args.rounds):
            for subject, src in subjects.items():
                for scenario, value in _round(src, args, topo.url).items():
                    runs[subject][scenario].append(value)
    socket = "canned replies, no socket" if args.canned else "loopback"
    print(f"{args.topology}, {args.durability}, {socket}: CPU µs per request")
    print(f"  {args.rounds} rounds of {args.n} requests per scenario")
    for subject, src in subjects.items():
        print(f"  {subject}: {src}")
    print(f"  {'scenario':12} {'subject':7} {'best':>7} {'median':>7} {'worst':>7} {'B/A':>6}")
    for scenario in SCENARIOS:
        medians = {s: statistics.median(runs[s][scenario]) for s in subjects}
        for subject in subjects:
            values = runs[subject][scenario]
            ratio = f"{medians['B'] / medians['A']:6.2f}" if subject == "B" and "A" in medians else ""
            spread = f"{min(values):7.1f} {medians[subject]:7.1f} {max(values):7.1f}"
            print(f"  {scenario:12} {subject:7} {spread} {ratio}")


if __name__ == "__main__":
    main()
