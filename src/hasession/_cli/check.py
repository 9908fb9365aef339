"""``hasession check URL``: read a deployment's settings and say what to fix.

Through Sentinel it asks every Sentinel of the URL, then the master and every replica they
know; through Cluster it asks every node that ``CLUSTER NODES`` lists. The rules are in
:mod:`hasession._check`; this module only gathers the facts and prints the findings.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

import redis

from .._check import SEVERITIES, Deployment, Finding, NodeFacts, SentinelFacts, check
from .._topology import Address, Cluster, ConnectionOptions, Sentinel, Standalone, Topology
from .._url import parse_url
from ._common import described, hold_budget_argument, resolve_url, url_arguments
from ._nodes import ERRORS, client, cluster_addresses, command

__all__ = ["add_parser", "gather", "run"]

#: The settings the rules read (CONFIG GET never returns passwords we ask for by name only).
CONFIG_KEYS = (
    "appendonly",
    "save",
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "replica-priority",
    "maxmemory",
    "maxmemory-policy",
    "cluster-node-timeout",
)


def add_parser(sub: Any) -> None:
    parser = described(
        sub,
        "check",
        "check a deployment's settings for session safety",
        "Reads the settings of every Sentinel of the URL and of every node they know (or of every "
        "Cluster node) with CONFIG GET, INFO and SENTINEL MASTER, never writing, and lists what to "
        "fix: each finding with its severity, the reason and the setting to change. Exits 1 if "
        "there is an error (with --strict, a warning too). See docs/deployment.md.",
    )
    url_arguments(parser, "the deployment, e.g. redis+sentinel://h1:26379,h2:26379/mymaster")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    hold_budget_argument(parser, "the RetryPolicy hold_budget your application uses")
    parser.add_argument("--strict", action="store_true", help="exit non-zero on warnings too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    topology = parse_url(resolve_url(args))
    deployment = replace(gather(topology), hold_budget=args.hold_budget)
    findings = check(deployment)
    print(render_json(topology, findings) if args.json else render_text(topology, findings))
    failing = ("error", "warning") if args.strict else ("error",)
    return 1 if any(f.severity in failing for f in findings) else 0


def render_text(topology: Topology, findings: list[Finding]) -> str:
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    lines = [f"hasession check {topology}: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    for finding in findings:
        lines += [
            f"\n{finding.severity.upper():8}{finding.code}  [{finding.subject}]",
            f"        {finding.reason}",
            f"        fix: {finding.fix}",
        ]
    if not findings:
        lines.append("no findings")
    return "\n".join(lines)


def render_json(topology: Topology, findings: list[Finding]) -> str:
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    return json.dumps(
        {"url": str(topology), "summary": counts, "findings": [asdict(f) for f in findings]}, indent=2
    )


# -- gathering -------------------------------------------------------------------------------------


def gather(topology: Topology) -> Deployment:
    """Read every node (and Sentinel) of *topology* into a :class:`Deployment`."""
    if isinstance(topology, Sentinel):
        return _gather_sentinel(topology)
    if isinstance(topology, Cluster):
        return _gather_cluster(topology)
    return _gather_standalone(topology)


def _open_without_password(options: ConnectionOptions, address: Address) -> bool | None:
    """Whether this node (or Sentinel) runs commands for a client that gives no credentials."""
    bare = replace(options, username=None, password=None, db=0)
    try:
        with client(bare, address) as node:
            command(node, "PING")
    except redis.AuthenticationError:
        return False
    except redis.ResponseError as exc:
        return not str(exc).startswith(("NOAUTH", "NOPERM"))
    except ERRORS:
        return None
    return True


def read_node(options: ConnectionOptions, address: Address, *, cluster: bool = False) -> NodeFacts:
    """The settings and replication state of one data node."""
    try:
        with client(options, address) as node:
            config = {str(k): str(v) for k, v in node.config_get(*CONFIG_KEYS).items()}
            replication = _flat(node.info("replication"))
            info = _parse_info(str(command(node, "CLUSTER", "INFO"))) if cluster else {}
    except ERRORS as exc:
        return NodeFacts(address=str(address), error=f"{type(exc).__name__}: {exc}")
    return NodeFacts(
        address=str(address),
        config=config,
        replication=replication,
        cluster=info,
        open_without_password=_open_without_password(options, address),
    )


def _flat(info: Mapping[str, Any]) -> dict[str, str]:
    """redis-py's parsed INFO back to strings (``slaveN`` entries as ``k=v,k=v``)."""
    flat = {}
    for name, value in info.items():
        if isinstance(value, dict):
            value = ",".join(f"{k}={v}" for k, v in value.items())
        flat[name] = str(value)
    return flat


def _parse_info(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _pairs(reply: Any) -> dict[str, str]:
    items = [str(v) for v in reply]
    return dict(zip(items[::2], items[1::2], strict=True))


def _loopback(addresses: list[Address]) -> bool:
    def local(host: str) -> bool:
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    return all(local(a.host) for a in addresses)


def _gather_standalone(topology: Standalone) -> Deployment:
    if topology.address is None:
        return Deployment(kind="standalone", nodes=(), tls=topology.options.tls, loopback=True)
    node = read_node(topology.options, topology.address)
    return Deployment(
        kind="standalone",
        nodes=(node,),
        tls=topology.options.tls,
        loopback=_loopback([topology.address]),
    )


def _read_sentinel(topology: Sentinel, address: Address) -> tuple[SentinelFacts, list[Address]]:
    options = topology.sentinel_options
    try:
        with client(options, address) as node:
            master = _pairs(command(node, "SENTINEL", "MASTER", topology.master_name))
            replicas = [_pairs(r) for r in command(node, "SENTINEL", "REPLICAS", topology.master_name)]
    except ERRORS as exc:
        return SentinelFacts(address=str(address), error=f"{type(exc).__name__}: {exc}"), []
    nodes = [Address(master["ip"], int(master["port"]))]
    nodes += [Address(r["ip"], int(r["port"])) for r in replicas]
    facts = SentinelFacts(
        address=str(address), master=master, open_without_password=_open_without_password(options, address)
    )
    return facts, nodes


def _gather_sentinel(topology: Sentinel) -> Deployment:
    sentinels, data = [], set()
    for address in topology.sentinels:
        facts, nodes = _read_sentinel(topology, address)
        sentinels.append(facts)
        data.update(nodes)
    addresses = sorted(data)
    return Deployment(
        kind="sentinel",
        nodes=tuple(read_node(topology.options, a) for a in addresses),
        sentinels=tuple(sentinels),
        tls=topology.options.tls,
        loopback=_loopback([*addresses, *topology.sentinels]),
    )


def _gather_cluster(topology: Cluster) -> Deployment:
    addresses: set[Address] = set(topology.seeds)
    for seed in topology.seeds:
        try:
            with client(topology.options, seed) as node:
                addresses.update(cluster_addresses(str(command(node, "CLUSTER", "NODES"))))
            break
        except ERRORS:
            continue
    ordered = sorted(addresses)
    return Deployment(
        kind="cluster",
        nodes=tuple(read_node(topology.options, a, cluster=True) for a in ordered),
        tls=topology.options.tls,
        loopback=_loopback(ordered),
    )
