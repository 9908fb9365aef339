"""``hasession check``'s rules: pure functions from a deployment's settings to findings.

The command line (``hasession._cli.check``) reads the settings off every node and Sentinel;
the rules here never touch the network, so each one is unit-tested from plain values.

Each rule states why a setting matters for sessions during a failover, and which setting to
change. ``error`` means users will see errors or lose sessions in a fault the deployment is
meant to survive; ``warning`` means a risk that depends on circumstances; ``info`` is advice.
"""

from __future__ import annotations

from ._data import (
    cluster_health,
    consistent_settings,
    eviction,
    min_replicas,
    persistence,
    replica_lag,
    replica_priority,
    replicas_present,
    tls_and_acl,
)
from ._facts import SEVERITIES, Deployment, Finding, NodeFacts, Rule, SentinelFacts, replicas_of
from ._failover import detection_time, failover_timeout, sentinel_group, sentinels_agree, unreadable

__all__ = [
    "RULES",
    "SEVERITIES",
    "Deployment",
    "Finding",
    "NodeFacts",
    "SentinelFacts",
    "check",
    "replicas_of",
]

RULES: tuple[Rule, ...] = (
    unreadable,
    detection_time,
    failover_timeout,
    sentinel_group,
    sentinels_agree,
    replicas_present,
    min_replicas,
    replica_lag,
    replica_priority,
    persistence,
    eviction,
    tls_and_acl,
    cluster_health,
    consistent_settings,
)


def check(deployment: Deployment) -> list[Finding]:
    """Every finding about *deployment*, errors first."""
    found = [finding for rule in RULES for finding in rule(deployment)]
    return sorted(found, key=lambda f: SEVERITIES.index(f.severity))
