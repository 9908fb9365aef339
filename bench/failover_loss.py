"""Acknowledged writes lost through raw ``SENTINEL FAILOVER``s, on a busy event loop and a busy CPU.

A forced failover promotes a replica while the old master still accepts writes: every write the old
master acknowledges after the promotion is lost when it is demoted. hasession fences writes on the
failover's first Sentinel events, in watcher threads that a busy event loop cannot delay. This script
measures what is left: users increment counters (read-modify-write, ``async`` durability) on one
event loop whose every request also burns CPU, as an app's handlers do, while the CPU is saturated by
busy processes, through several raw failovers. Lost writes are counted per failover, from what each
user last had acknowledged.

    .venv/bin/python bench/failover_loss.py --failovers 5 --burners 2 --users 20 --work-ms 2
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time

import hasession
from hasession.testing import SentinelTopology

SECRET = "failover-loss-bench-secret-0123456789"


def burn() -> None:
    while True:
        pass


def busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


async def measure(topology: SentinelTopology, args: argparse.Namespace) -> list[int]:
    store = hasession.AsyncSessionStore.from_url(topology.url, secret_keys=SECRET)
    acked: list[int] = []
    cookies: list[str] = []
    for _ in range(args.users):
        first = store.open(None)
        first["count"] = 0
        cookies.append(str((await store.save(first)).value))
        acked.append(0)
    stop = asyncio.Event()
    regressions = 0

    async def user(i: int) -> None:
        nonlocal regressions
        while not stop.is_set():
            session = await store.load(cookies[i])
            busy(args.work_ms)  # the handler's own work: the loop is busy
            count = session.get("count", 0)
            regressions += count < acked[i]
            session["count"] = count + 1
            await store.save(session)
            acked[i] = count + 1

    tasks = [asyncio.create_task(user(i)) for i in range(args.users)]
    losses = []
    for _ in range(args.failovers):
        await asyncio.sleep(1.0)  # steady load before the fault
        old = topology.current_master()
        await asyncio.to_thread(topology.failover)
        await asyncio.to_thread(topology.wait_for_replica, old)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
        lost = 0
        for i, cookie in enumerate(cookies):
            stored = (await store.load(cookie)).get("count", 0)
            lost += max(0, acked[i] - stored)
            acked[i] = stored  # the next round counts from what survived
        losses.append(lost)
        print(f"failover {len(losses)}: {lost} acknowledged writes lost; stats {store.stats.snapshot()}")
        stop.clear()
        tasks = [asyncio.create_task(user(i)) for i in range(args.users)]
    stop.set()
    await asyncio.gather(*tasks)
    await store.close()
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--failovers", type=int, default=5, help="raw SENTINEL FAILOVERs (default 5)")
    parser.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    parser.add_argument(
        "--burners", type=int, default=2, help="busy processes saturating the CPU (default 2)"
    )
    parser.add_argument(
        "--work-ms", type=float, default=2.0, help="CPU per request on the loop, ms (default 2)"
    )
    args = parser.parse_args()
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(args.burners)]
    for process in burners:
        process.start()
    try:
        with SentinelTopology(replicas=2, sentinels=3) as topology:
            losses = asyncio.run(measure(topology, args))
    finally:
        for process in burners:
            process.terminate()
    print(f"lost per failover: {losses}; total {sum(losses)} over {len(losses)} failovers")


if __name__ == "__main__":
    main()
