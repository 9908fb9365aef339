"""Microseconds per ``store.load`` of a 10-key session, next to a bare GET of a 1 KB blob.

    .venv/bin/python bench/load_latency.py [--profile]

Single thread, loopback, a fresh ``RedisServer``. Not a test: it prints.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable

import redis

import hasession
from hasession.testing import RedisServer


def per_call(call: Callable[[], object], n: int) -> float:
    for _ in range(min(500, n)):  # warm up: connections, script cache
        call()
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the loads")
    args = parser.parse_args()
    with RedisServer() as server:
        store = hasession.SessionStore.from_url(server.url, secret_keys="b" * 32)
        session = store.open(None)
        for i in range(10):
            session[f"k{i}"] = {"v": i, "name": "x" * 50}
        cookie = store.save(session).value
        plain = redis.Redis(host=server.host, port=server.port, protocol=2)
        plain.set("blob", b"x" * 1000)
        load = per_call(lambda: store.load(cookie), args.n)
        get = per_call(lambda: plain.get("blob"), args.n)
        print(f"store.load: {load:.1f} µs   redis-py GET: {get:.1f} µs   ratio {load / get:.2f}")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(lambda: [store.load(cookie) for _ in range(args.n)])
            pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        store.close()
        plain.close()


if __name__ == "__main__":
    main()
