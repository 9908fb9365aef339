"""Does a session cost the same with a million of them? Two local 3-primary Redis Clusters side by side.

    .venv/bin/python bench/scale.py [--sessions 1000000] [--small 10000] [--n 2000] [--repeats 5]

One cluster holds ``--small`` sessions, the other ``--sessions``, all made by hasession's async store (a
typical session: a user id, a CSRF token, a theme, a 2-item cart, a flag). Then, interleaved between the two
clusters, one task runs ``--n`` reads (load, read one key, save unchanged) and ``--n`` one-key writes of
random sessions, ``--repeats`` times, and the bench prints, for each cluster:

- the client's CPU per request (``time.thread_time``) and the wall time per request, median of the repeats;
- the Redis CPU per request (``used_cpu_user + used_cpu_sys`` of the three primaries, from ``INFO cpu``);
- the memory per session: ``used_memory`` of the primaries grown while the sessions were made, divided by
  their number, and the mean ``MEMORY USAGE`` of 1,000 session keys;
- how evenly the sessions spread across the shards: each primary's ``DBSIZE`` and the largest gap to the
  mean, in percent.

The clusters have no replicas (``replicas_per_primary=0``): the question is how the cost grows with the
data, and replicas would double the machine's work without changing that. Results go to
``bench/results/scale-<UTC date and time>.json`` and ``.md``. A million sessions take about 500 MB of RAM
across the primaries and a few minutes to make on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import redis
from peers.common import SESSION  # the session every benchmark keeps (bench/peers)

import hasession
from hasession.testing import ClusterTopology

SECRET = "scale-bench-secret-key-0123456789abcdef"
SAMPLE = 20_000  # cookies kept per cluster for the measured requests


def _primaries(topology: ClusterTopology) -> list[redis.Redis]:
    return [node.client() for node in topology.primaries()]


def _info_sum(clients: list[redis.Redis], section: str, *fields: str) -> float:
    total = 0.0
    for client in clients:
        info = client.info(section)
        total += sum(float(info[name]) for name in fields)
    return total


def _redis_cpu(clients: list[redis.Redis]) -> float:
    return _info_sum(clients, "cpu", "used_cpu_user", "used_cpu_sys")


async def _make(store: hasession.AsyncSessionStore, count: int, concurrency: int) -> list[str]:
    """Create ``count`` sessions; return a random sample of their cookies."""
    sample: list[str] = []
    made = 0
    rng = random.Random(1)

    async def worker(todo: int) -> None:
        nonlocal made
        for _ in range(todo):
            session = store.open(None)
            await store.load_into(session)
            session.update(SESSION)
            result = await store.save(session)
            assert result.value is not None
            made += 1
            if len(sample) < SAMPLE:  # reservoir sampling keeps the sample uniform
                sample.append(result.value)
            elif (slot := rng.randrange(made)) < SAMPLE:
                sample[slot] = result.value

    share, extra = divmod(count, concurrency)
    await asyncio.gather(*(worker(share + (i < extra)) for i in range(concurrency)))
    return sample


async def _burst(
    store: hasession.AsyncSessionStore, cookies: list[str], n: int, write: bool
) -> tuple[float, float]:
    """CPU and wall seconds per request over ``n`` requests."""
    picks = random.choices(cookies, k=n)
    cpu, wall = time.thread_time(), time.perf_counter()
    for i, cookie in enumerate(picks):
        session = await store.load(cookie)
        if write:
            session["theme"] = f"t{i}"
        else:
            session.get("theme")
        await store.save(session)
    return (time.thread_time() - cpu) / n, (time.perf_counter() - wall) / n


class Subject:
    """One cluster, its store, its primaries and what was measured on it."""

    def __init__(self, name: str, topology: ClusterTopology) -> None:
        self.name = name
        self.topology = topology
        self.store = hasession.AsyncSessionStore.from_url(topology.url, secret_keys=[SECRET])
        self.primaries = _primaries(topology)
        self.cookies: list[str] = []
        self.figures: dict[str, Any] = {}
        self.runs: dict[str, list[tuple[float, float, float]]] = {"read": [], "write": []}

    async def populate(self, count: int, concurrency: int) -> None:
        before = _info_sum(self.primaries, "memory", "used_memory")
        started = time.perf_counter()
        self.cookies = await _make(self.store, count, concurrency)
        seconds = time.perf_counter() - started
        grown = _info_sum(self.primaries, "memory", "used_memory") - before
        sizes = [client.dbsize() for client in self.primaries]
        mean = statistics.mean(sizes)
        self.figures.update(
            sessions=count,
            made_per_second=round(count / seconds),
            bytes_per_session_used_memory=round(grown / count, 1),
            bytes_per_session_memory_usage=self._memory_usage(),
            keys_per_primary=sizes,
            largest_gap_to_mean_percent=round(100 * max(abs(s - mean) for s in sizes) / mean, 2),
        )

    def _memory_usage(self) -> float:
        usages = []
        for client in self.primaries:
            cursor, keys = 0, []
            while len(keys) < 334:
                cursor, found = client.scan(cursor, count=1000)
                keys += found
                if cursor == 0:
                    break
            usages += [client.memory_usage(key, samples=0) for key in keys[:334]]
        return round(statistics.mean(u for u in usages if u), 1)

    async def measure(self, n: int, write: bool) -> None:
        redis_before = _redis_cpu(self.primaries)
        cpu, wall = await _burst(self.store, self.cookies, n, write)
        redis_cpu = (_redis_cpu(self.primaries) - redis_before) / n
        self.runs["write" if write else "read"].append((cpu, wall, redis_cpu))

    def summary(self) -> dict[str, Any]:
        out = dict(self.figures)
        for kind, runs in self.runs.items():
            out[kind] = {
                "client_cpu_us": round(statistics.median(r[0] for r in runs) * 1e6, 1),
                "client_cpu_us_range": [
                    round(min(r[0] for r in runs) * 1e6, 1),
                    round(max(r[0] for r in runs) * 1e6, 1),
                ],
                "wall_us": round(statistics.median(r[1] for r in runs) * 1e6, 1),
                "redis_cpu_us": round(statistics.median(r[2] for r in runs) * 1e6, 1),
            }
        return out


def _table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| sessions | client CPU µs read [range] | client CPU µs write [range] | wall µs read / write "
        "| Redis CPU µs read / write | bytes/session (used_memory / MEMORY USAGE) "
        "| keys per primary | gap to mean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results.values():
        rd, wr = r["read"], r["write"]
        lines.append(
            f"| {r['sessions']:,} | {rd['client_cpu_us']} {rd['client_cpu_us_range']} "
            f"| {wr['client_cpu_us']} {wr['client_cpu_us_range']} | {rd['wall_us']} / {wr['wall_us']} "
            f"| {rd['redis_cpu_us']} / {wr['redis_cpu_us']} "
            f"| {r['bytes_per_session_used_memory']} / {r['bytes_per_session_memory_usage']} "
            f"| {', '.join(f'{k:,}' for k in r['keys_per_primary'])} | {r['largest_gap_to_mean_percent']}% |"
        )
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    with (
        ClusterTopology(replicas_per_primary=0) as small_cluster,
        ClusterTopology(replicas_per_primary=0) as big_cluster,
    ):
        small, big = Subject("small", small_cluster), Subject("large", big_cluster)
        try:
            for subject, count in ((small, args.small), (big, args.sessions)):
                print(f"making {count:,} sessions...", flush=True)
                await subject.populate(count, args.concurrency)
                print(f"  {subject.figures['made_per_second']:,} per second", flush=True)
            for repeat in range(args.repeats):
                for write in (False, True):
                    for subject in (small, big) if repeat % 2 else (big, small):
                        await subject.measure(args.n, write)
                print(f"  repeat {repeat + 1}/{args.repeats} done", flush=True)
            return {s.name: s.summary() for s in (small, big)}
        finally:
            for subject in (small, big):
                await subject.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=2000, help="requests per burst")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    load = os.getloadavg()
    results = asyncio.run(_run(args))
    header = (
        f"{started.isoformat(timespec='seconds')}, {os.cpu_count()} cores, load before "
        f"{', '.join(f'{x:.2f}' for x in load)}; {args.repeats} repeats of {args.n} requests per kind\n"
    )
    table = _table(results)
    print(header + "\n" + table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"scale-{started.strftime('%Y-%m-%dT%H%M')}"
    stem.with_suffix(".json").write_text(
        json.dumps(
            {"started": started.isoformat(), "load": load, "args": vars(args), "results": results}, indent=2
        )
        + "\n"
    )
    stem.with_suffix(".md").write_text(header + "\n" + table + "\n")
    print(f"written: {stem}.json, .md")


if __name__ == "__main__":
    main()
