"""Direct connections to the nodes of a deployment, for the operator commands (check, sessions, stats).

The session store routes each request to one master; these commands need every node (check)
or every primary (sessions and stats, which SCAN), so they open short-lived clients themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from .._redis import connection_kwargs
from .._topology import Address, Cluster, ConnectionOptions, Sentinel, Topology
from ._common import CommandError

__all__ = ["ERRORS", "client", "cluster_addresses", "command", "primaries"]

#: What a node that cannot be read raises.
ERRORS = (redis.RedisError, OSError)


@contextmanager
def client(options: ConnectionOptions, address: Address, *, decode: bool = True) -> Iterator[redis.Redis]:
    """A client of one node (text replies unless ``decode`` is false), closed on exit."""
    kwargs = {**connection_kwargs(options, address), "decode_responses": decode, "max_connections": 2}
    if options.tls:
        kwargs["ssl"] = True
    opened = redis.Redis(**kwargs)
    try:
        yield opened
    finally:
        opened.close()


def command(node: redis.Redis | redis.client.Pipeline, *args: str | int | bytes) -> Any:
    """One command, its reply as redis-py parses it."""
    return node.execute_command(*args)  # type: ignore[no-untyped-call]


def cluster_addresses(text: str, *, primaries_only: bool = False) -> list[Address]:
    """The addresses of the nodes in a ``CLUSTER NODES`` reply (skipping ``noaddr`` and failed nodes
    when only primaries are asked for)."""
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or "noaddr" in words[2]:
            continue
        flags = words[2].split(",")
        if primaries_only and ("master" not in flags or "fail" in flags):
            continue
        host, _, port = words[1].split("@", 1)[0].rpartition(":")
        if host and port.isdigit():
            found.append(Address(host.strip("[]"), int(port)))
    return found


def primaries(topology: Topology) -> list[tuple[ConnectionOptions, Address]]:
    """Every node that holds sessions as a master: one for standalone and Sentinel, each primary
    of a Cluster. Raises :class:`CommandError` when none can be found."""
    if isinstance(topology, Sentinel):
        return [(topology.options, _sentinel_master(topology))]
    if isinstance(topology, Cluster):
        return [(topology.options, a) for a in _cluster_primaries(topology)]
    if topology.address is None:
        raise CommandError("this command needs a TCP address, not a Unix socket")
    return [(topology.options, topology.address)]


def _sentinel_master(topology: Sentinel) -> Address:
    failures = []
    for address in topology.sentinels:
        try:
            with client(topology.sentinel_options, address) as sentinel:
                reply = command(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", topology.master_name)
        except ERRORS as exc:
            failures.append(f"{address}: {exc}")
            continue
        if reply:
            return Address(str(reply[0]), int(reply[1]))
    raise CommandError(f"no Sentinel knows master {topology.master_name!r}: {'; '.join(failures)}")


def _cluster_primaries(topology: Cluster) -> list[Address]:
    failures = []
    for seed in topology.seeds:
        try:
            with client(topology.options, seed) as node:
                return cluster_addresses(str(command(node, "CLUSTER", "NODES")), primaries_only=True)
        except ERRORS as exc:
            failures.append(f"{seed}: {exc}")
    raise CommandError(f"no Cluster seed answered: {'; '.join(failures)}")
