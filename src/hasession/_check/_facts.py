"""What ``hasession check`` knows about a deployment, and what it says about it: plain values."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "FAILOVER_OVERHEAD_MS",
    "SEVERITIES",
    "Deployment",
    "Finding",
    "NodeFacts",
    "Rule",
    "SentinelFacts",
    "finding",
    "masters",
    "number",
    "readable",
    "replicas_of",
]

Severity = Literal["error", "warning", "info"]
Kind = Literal["standalone", "sentinel", "cluster"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
#: A failover's blackout is about the detection time plus this (vote, promotion, discovery).
FAILOVER_OVERHEAD_MS = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One thing to fix (or to know) about a deployment."""

    severity: Severity
    #: A stable name for the rule, e.g. ``"persistence-off"``.
    code: str
    #: Which node or Sentinel (``host:port``), or ``"deployment"``.
    subject: str
    #: What goes wrong for sessions, and when.
    reason: str
    #: The setting to change, with the value to set.
    fix: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFacts:
    """What one data node reported: ``CONFIG GET`` values and ``INFO replication`` fields."""

    address: str
    config: Mapping[str, str] = field(default_factory=dict)
    replication: Mapping[str, str] = field(default_factory=dict)
    #: ``CLUSTER INFO`` fields (Cluster only).
    cluster: Mapping[str, str] = field(default_factory=dict)
    #: An unauthenticated client could run commands; None: not tested.
    open_without_password: bool | None = None
    #: Why the node could not be read (unreachable, CONFIG denied...); None: read.
    error: str | None = None

    @property
    def role(self) -> str:
        return self.replication.get("role", "unknown")


@dataclass(frozen=True, slots=True, kw_only=True)
class SentinelFacts:
    """What one Sentinel reported: its ``SENTINEL MASTER <name>`` fields."""

    address: str
    master: Mapping[str, str] = field(default_factory=dict)
    open_without_password: bool | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """Everything the rules look at."""

    kind: Kind
    nodes: tuple[NodeFacts, ...]
    sentinels: tuple[SentinelFacts, ...] = ()
    #: The URL uses TLS (``rediss://`` or ``tls=true``).
    tls: bool = False
    #: Every address is on loopback (a test or a single-host setup).
    loopback: bool = False
    #: Seconds hasession holds a request through a failover (``RetryPolicy.hold_budget``).
    hold_budget: float = 10.0


Rule = Callable[[Deployment], Iterator[Finding]]


def finding(severity: Severity, code: str, subject: str, *, reason: str, fix: str) -> Finding:
    """A :class:`Finding`, written the way the rules read: what, where, why, and the fix."""
    return Finding(severity=severity, code=code, subject=subject, reason=reason, fix=fix)


def number(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def replicas_of(master: NodeFacts) -> list[dict[str, str]]:
    """The ``slaveN`` entries of a master's ``INFO replication``, as dicts."""
    entries = []
    for name, value in master.replication.items():
        if name.startswith("slave") and name[5:].isdigit():
            entries.append(dict(part.split("=", 1) for part in value.split(",") if "=" in part))
    return entries


def masters(deployment: Deployment) -> list[NodeFacts]:
    return [n for n in deployment.nodes if n.error is None and n.role == "master"]


def readable(deployment: Deployment) -> list[NodeFacts]:
    return [n for n in deployment.nodes if n.error is None]
