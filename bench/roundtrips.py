"""What each session operation costs in Redis, counted from the server.

    .venv/bin/python bench/roundtrips.py [--topology standalone|sentinel|cluster|all]
                                         [--durability async|replicated]

For each operation it resets ``INFO commandstats`` on every data node, runs the operation once,
and prints the commands the servers executed (script-internal calls included, so you see what
is behind each script) together with the round trips the client made. Not a test: it asserts
nothing; it prints.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import hasession
from hasession.testing import ClusterTopology, RedisServer, SentinelTopology

SECRET = "bench-secret-key-0123456789abcdef"
# What our client sends on its own; the rest runs inside scripts (ZREM can be either).
CLIENT_LEVEL = {"evalsha", "eval", "wait", "asking", "zrangebyscore"}


def data_clients(topology: Any) -> list[Any]:
    if isinstance(topology, RedisServer):
        return [topology.client()]
    if isinstance(topology, SentinelTopology):
        return [node.client() for node in topology.nodes if node.running]
    return [node.client() for node in topology.nodes if node.running]


def commandstats(clients: list[Any]) -> Counter[str]:
    total: Counter[str] = Counter()
    for client in clients:
        for name, stats in client.info("commandstats").items():
            total[name.removeprefix("cmdstat_")] += stats["calls"]
    return total


@contextmanager
def topology_named(name: str) -> Iterator[Any]:
    if name == "standalone":
        with RedisServer() as server:
            yield server
    elif name == "sentinel":
        with SentinelTopology(replicas=2, sentinels=3) as topo:
            yield topo
    else:
        with ClusterTopology(primaries=3, replicas_per_primary=1) as topo:
            yield topo


def operations(store: hasession.SessionStore) -> Iterator[tuple[str, Callable[[], object]]]:
    session = store.open(None)
    session["cart"] = [1, 2, 3]
    cookie = store.save(session).value
    store.load(cookie)  # warm up: discovery, script cache, canary
    state: dict[str, Any] = {}

    def load() -> None:
        state["s"] = store.load(cookie)

    def save_untouched() -> None:
        _ = state["s"]["cart"]
        store.save(state["s"])

    def save_change() -> None:
        state["s"]["n"] = 1
        store.save(state["s"])

    def create() -> None:
        new = store.open(None)
        new["a"] = 1
        state["new"] = store.save(new).value

    def login_cycle() -> None:
        login = store.load(state["new"])
        login.user_id = "alice"
        login.cycle_id()
        state["cycled"] = store.save(login).value

    def logout() -> None:
        out = store.load(state["cycled"])
        out.destroy()
        store.save(out)

    yield from [
        ("load", load),
        ("save (untouched)", save_untouched),
        ("save (one key changed)", save_change),
        ("create", create),
        ("login (user + cycle_id)", login_cycle),
        ("logout (destroy)", logout),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topology", default="all", choices=["standalone", "sentinel", "cluster", "all"])
    parser.add_argument("--durability", default="async", choices=["async", "replicated"])
    args = parser.parse_args()
    names = ["standalone", "sentinel", "cluster"] if args.topology == "all" else [args.topology]
    durability = hasession.DurabilityPolicy(mode=args.durability)
    for name in names:
        if name == "standalone" and args.durability == "replicated":
            continue
        with topology_named(name) as topo:
            store = hasession.SessionStore.from_url(topo.url, secret_keys=SECRET, durability=durability)
            clients = data_clients(topo)
            print(f"\n{name} ({args.durability}): {topo.url}")
            print(f"  {'operation':26} {'round trips':>11}  commands run by the servers")
            for _, operation in operations(store):  # first use loads each script (NOSCRIPT -> EVAL) once
                operation()
            for label, operation in operations(store):
                for client in clients:
                    client.config_resetstat()
                before = store.stats.round_trips
                operation()
                trips = store.stats.round_trips - before
                counts = commandstats(clients)
                counts.pop("config|resetstat", None)
                sent = sum(n for c, n in counts.items() if c in CLIENT_LEVEL)
                detail = ", ".join(f"{c} x{n}" for c, n in sorted(counts.items()))
                print(f"  {label:26} {trips:>11}  scripts+WAIT sent {sent}: {detail or '(none)'}")
            store.close()


if __name__ == "__main__":
    main()
