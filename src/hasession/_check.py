"""``hasession check``'s rules: pure functions from a deployment's settings to findings.

The command line (``hasession._cli.check``) reads the settings off every node and Sentinel;
the rules here never touch the network, so each one is unit-tested from plain values.

Each rule states why a setting matters for sessions during a failover, and which setting to
change. ``error`` means users will see errors or lose sessions in a fault the deployment is
meant to survive; ``warning`` means a risk that depends on circumstances; ``info`` is advice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Deployment", "Finding", "NodeFacts", "SentinelFacts", "check", "replicas_of"]

Severity = Literal["error", "warning", "info"]
Kind = Literal["standalone", "sentinel", "cluster"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
#: A failover's blackout is about the detection time plus this (vote, promotion, discovery).
FAILOVER_OVERHEAD_MS = 2000
_EVICTING = ("allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu")
_EVICTING_ALL = (*_EVICTING, "volatile-random", "volatile-ttl")


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


def check(deployment: Deployment) -> list[Finding]:
    """Every finding about *deployment*, errors first."""
    found = [finding for rule in RULES for finding in rule(deployment)]
    return sorted(found, key=lambda f: SEVERITIES.index(f.severity))


def _int(value: str | None, default: int = 0) -> int:
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


def _masters(deployment: Deployment) -> list[NodeFacts]:
    return [n for n in deployment.nodes if n.error is None and n.role == "master"]


def _readable(deployment: Deployment) -> list[NodeFacts]:
    return [n for n in deployment.nodes if n.error is None]


# -- reachability --------------------------------------------------------------------------------


def unreadable(deployment: Deployment) -> Iterator[Finding]:
    for node in deployment.nodes:
        if node.error is not None:
            yield Finding(
                severity="error",
                code="node-unreadable",
                subject=node.address,
                reason=f"could not read this node ({node.error}); its settings were not checked",
                fix="make it reachable, and allow CONFIG GET and INFO to the user hasession connects as",
            )
    for sentinel in deployment.sentinels:
        if sentinel.error is not None:
            yield Finding(
                severity="error",
                code="sentinel-unreadable",
                subject=sentinel.address,
                reason=f"this Sentinel did not answer ({sentinel.error}): it cannot vote in a failover",
                fix="restart it, or remove it from the URL if it was decommissioned",
            )


# -- failure detection -----------------------------------------------------------------------------


def detection_time(deployment: Deployment) -> Iterator[Finding]:
    """down-after-milliseconds (Sentinel) or cluster-node-timeout (Cluster) against the hold budget."""
    budget_ms = deployment.hold_budget * 1000
    for subject, setting, value in _detection_settings(deployment):
        if value + FAILOVER_OVERHEAD_MS > budget_ms:
            yield Finding(
                severity="error",
                code="detection-too-slow",
                subject=subject,
                reason=(
                    f"{setting} is {value} ms: a failover takes about {value + FAILOVER_OVERHEAD_MS} ms, "
                    f"longer than the {deployment.hold_budget:g} s hasession holds a request, "
                    "so users see errors during every unplanned failover"
                ),
                fix=f"set {setting} to 2000-5000, or raise RetryPolicy(hold_budget=...) above "
                f"{(value + FAILOVER_OVERHEAD_MS) / 1000:g} s",
            )
        elif value < 1000:
            yield Finding(
                severity="warning",
                code="detection-too-fast",
                subject=subject,
                reason=f"{setting} is {value} ms: a busy node (a slow command, a fork, a GC pause of "
                "the host) is failed over for nothing, and each failover can lose unreplicated writes",
                fix=f"set {setting} to 2000-5000",
            )


def _detection_settings(deployment: Deployment) -> Iterator[tuple[str, str, int]]:
    for sentinel in deployment.sentinels:
        if sentinel.error is None and "down-after-milliseconds" in sentinel.master:
            value = _int(sentinel.master["down-after-milliseconds"])
            yield sentinel.address, "sentinel down-after-milliseconds", value
    if deployment.kind == "cluster":
        for node in _readable(deployment):
            if "cluster-node-timeout" in node.config:
                yield node.address, "cluster-node-timeout", _int(node.config["cluster-node-timeout"])


def failover_timeout(deployment: Deployment) -> Iterator[Finding]:
    for sentinel in deployment.sentinels:
        if sentinel.error is not None or "failover-timeout" not in sentinel.master:
            continue
        value = _int(sentinel.master["failover-timeout"])
        down_after = _int(sentinel.master.get("down-after-milliseconds"), 30000)
        if value > 60000:
            yield Finding(
                severity="warning",
                code="failover-timeout-long",
                subject=sentinel.address,
                reason=f"failover-timeout is {value} ms: if a promotion fails (the chosen replica dies), "
                f"Sentinel waits {2 * value / 1000:g} s before trying again, and sessions are "
                "unavailable all that time",
                fix="set sentinel failover-timeout to 10000-60000",
            )
        elif value < 3 * down_after:
            yield Finding(
                severity="warning",
                code="failover-timeout-short",
                subject=sentinel.address,
                reason=f"failover-timeout ({value} ms) is less than 3 x down-after-milliseconds "
                f"({down_after} ms): a failover may be aborted before the replicas are reconfigured",
                fix=f"set sentinel failover-timeout to at least {3 * down_after}",
            )


# -- Sentinels ------------------------------------------------------------------------------------


def sentinel_group(deployment: Deployment) -> Iterator[Finding]:
    if deployment.kind != "sentinel":
        return
    live = [s for s in deployment.sentinels if s.error is None and s.master]
    if not live:
        return
    known = max(_int(s.master.get("num-other-sentinels")) + 1 for s in live)
    quorum = max(_int(s.master.get("quorum")) for s in live)
    if known < 3:
        yield Finding(
            severity="error",
            code="too-few-sentinels",
            subject="deployment",
            reason=f"{known} Sentinel(s) monitor the master: a failover needs a majority to vote, "
            "so one Sentinel down (or the one on the master's host) leaves nobody to fail over",
            fix="run 3 or 5 Sentinels, on hosts that fail independently",
        )
    elif known % 2 == 0:
        yield Finding(
            severity="warning",
            code="even-sentinels",
            subject="deployment",
            reason=f"{known} Sentinels: an even number tolerates no more failures than {known - 1}",
            fix=f"run {known + 1} Sentinels",
        )
    yield from _quorum(quorum, known)
    if len(deployment.sentinels) < known:
        yield Finding(
            severity="warning",
            code="url-lists-few-sentinels",
            subject="deployment",
            reason=f"the URL lists {len(deployment.sentinels)} of the {known} Sentinels: if those are "
            "down the application cannot find the master, though others could answer",
            fix="list every Sentinel in the redis+sentinel:// URL",
        )


def _quorum(quorum: int, known: int) -> Iterator[Finding]:
    majority = known // 2 + 1
    if quorum > known:
        yield Finding(
            severity="error",
            code="quorum-unreachable",
            subject="deployment",
            reason=f"quorum is {quorum} but only {known} Sentinels exist: the master is never "
            "declared down, so no failover ever happens",
            fix=f"sentinel monitor <name> <host> <port> {majority}",
        )
    elif quorum < majority:
        yield Finding(
            severity="warning",
            code="quorum-below-majority",
            subject="deployment",
            reason=f"quorum is {quorum} of {known}: a single Sentinel cut off from the master can "
            "start a failover that the others do not need",
            fix=f"sentinel monitor <name> <host> <port> {majority}",
        )


def sentinels_agree(deployment: Deployment) -> Iterator[Finding]:
    live = [s for s in deployment.sentinels if s.error is None and s.master]
    views = {(s.master.get("ip"), s.master.get("port"), s.master.get("config-epoch")) for s in live}
    if len(views) > 1:
        described = "; ".join(
            f"{s.address} says {s.master.get('ip')}:{s.master.get('port')} "
            f"(epoch {s.master.get('config-epoch')})"
            for s in live
        )
        yield Finding(
            severity="error",
            code="sentinels-disagree",
            subject="deployment",
            reason=f"the Sentinels disagree on the master: {described}. Clients asking different "
            "Sentinels write to different masters, and one side's writes are lost",
            fix="find the partitioned or stale Sentinel; SENTINEL RESET <name> on it once it is reachable",
        )
    for sentinel in live:
        flags = sentinel.master.get("flags", "")
        if "s_down" in flags or "o_down" in flags:
            yield Finding(
                severity="error",
                code="master-down",
                subject=sentinel.address,
                reason=f"this Sentinel sees the master as down (flags {flags})",
                fix="look at the master and the network between it and this Sentinel",
            )


# -- writes and replicas ----------------------------------------------------------------------------


def replicas_present(deployment: Deployment) -> Iterator[Finding]:
    if deployment.kind == "standalone":
        yield Finding(
            severity="warning",
            code="no-failover",
            subject="deployment",
            reason="a standalone Redis has no failover: when it stops, every request fails",
            fix="use Sentinel (redis+sentinel://) or Cluster (redis+cluster://) with replicas",
        )
        return
    for master in _masters(deployment):
        if _int(master.replication.get("connected_slaves")) == 0:
            yield Finding(
                severity="error",
                code="no-replica",
                subject=master.address,
                reason="this master has no connected replica: if it fails there is nothing to promote, "
                "and every session it holds is gone",
                fix="attach at least one replica (replicaof / CLUSTER REPLICATE)",
            )


def min_replicas(deployment: Deployment) -> Iterator[Finding]:
    if deployment.kind == "standalone":
        return
    for master in _masters(deployment):
        wanted = _int(master.config.get("min-replicas-to-write"))
        lag = _int(master.config.get("min-replicas-max-lag"), 10)
        attached = _int(master.replication.get("connected_slaves"))
        if wanted == 0:
            yield Finding(
                severity="warning",
                code="min-replicas-off",
                subject=master.address,
                reason="min-replicas-to-write is 0: a master cut off from the others keeps accepting "
                "session writes, and they are all lost when it rejoins as a replica",
                fix="min-replicas-to-write 1 and min-replicas-max-lag 10 (on every node, so they hold "
                "after a promotion)",
            )
        elif wanted > attached:
            yield Finding(
                severity="error",
                code="min-replicas-unmet",
                subject=master.address,
                reason=f"min-replicas-to-write is {wanted} but {attached} replica(s) are attached: "
                "the master refuses every write (NOREPLICAS)",
                fix=f"attach replicas or set min-replicas-to-write {max(attached - 1, 1)}",
            )
        elif wanted == attached:
            yield Finding(
                severity="warning",
                code="min-replicas-all",
                subject=master.address,
                reason=f"min-replicas-to-write is {wanted}, every replica: one replica down stops "
                "all session writes",
                fix=f"min-replicas-to-write {max(wanted - 1, 1)}, or add a replica",
            )
        if wanted and lag > 10:
            yield Finding(
                severity="warning",
                code="min-replicas-lag-long",
                subject=master.address,
                reason=f"min-replicas-max-lag is {lag} s: an isolated master accepts writes (later lost) "
                "for that long",
                fix="min-replicas-max-lag 10 or less",
            )


def replica_lag(deployment: Deployment) -> Iterator[Finding]:
    for master in _masters(deployment):
        allowed = max(_int(master.config.get("min-replicas-max-lag"), 10), 1)
        for entry in replicas_of(master):
            where = f"{entry.get('ip')}:{entry.get('port')}"
            if entry.get("state") != "online":
                yield Finding(
                    severity="error",
                    code="replica-not-online",
                    subject=where,
                    reason=f"replica of {master.address} is in state {entry.get('state')!r}: "
                    "it cannot take over with current data",
                    fix="look at this replica's log (full sync loop? repl-backlog-size too small?)",
                )
            elif _int(entry.get("lag")) > allowed:
                yield Finding(
                    severity="warning",
                    code="replica-lagging",
                    subject=where,
                    reason=f"replica of {master.address} last acknowledged {entry.get('lag')} s ago: "
                    "a failover to it would lose that much of session writes",
                    fix="look at the network and load between master and replica",
                )
    for node in _readable(deployment):
        if node.role == "slave" and node.replication.get("master_link_status") == "down":
            yield Finding(
                severity="error",
                code="replica-link-down",
                subject=node.address,
                reason="this replica's link to its master is down: it is serving stale sessions and "
                "cannot be promoted safely",
                fix="look at this replica's log; check masterauth and the network",
            )


def replica_priority(deployment: Deployment) -> Iterator[Finding]:
    if deployment.kind != "sentinel":
        return
    replicas = [n for n in _readable(deployment) if n.role == "slave" and "replica-priority" in n.config]
    priorities = Counter(_int(n.config["replica-priority"], 100) for n in replicas)
    if replicas and set(priorities) == {0}:
        yield Finding(
            severity="error",
            code="no-promotable-replica",
            subject="deployment",
            reason="every replica has replica-priority 0: Sentinel never promotes any of them",
            fix="replica-priority 100 on the replicas that may become master",
        )
    elif len(set(priorities) - {0}) > 1:
        listed = ", ".join(f"{n.address}={n.config['replica-priority']}" for n in replicas)
        yield Finding(
            severity="warning",
            code="unequal-priority",
            subject="deployment",
            reason=f"replicas have different replica-priority ({listed}): Sentinel promotes by "
            "priority before replication offset, so a less up-to-date replica can win and the "
            "writes only the others had are lost",
            fix="the same replica-priority on every replica (0 only for those that must never lead)",
        )


# -- data safety ------------------------------------------------------------------------------------


def persistence(deployment: Deployment) -> Iterator[Finding]:
    for node in _readable(deployment):
        aof = node.config.get("appendonly", "no") == "yes"
        rdb = bool(node.config.get("save", "").strip())
        if "appendonly" not in node.config:
            continue
        if not aof and not rdb:
            yield Finding(
                severity="error",
                code="persistence-off",
                subject=node.address,
                reason="no AOF and no RDB: if this node restarts (crash, OOM kill, deploy) it comes back "
                "empty, and a master that restarts empty before a failover wipes its replicas too: "
                "every user is logged out",
                fix="appendonly yes (appendfsync everysec)",
            )
        elif not aof:
            yield Finding(
                severity="warning",
                code="rdb-only",
                subject=node.address,
                reason=f"only RDB snapshots (save {node.config.get('save')!r}): a restart loses every "
                "session written since the last snapshot",
                fix="appendonly yes (appendfsync everysec)",
            )


def eviction(deployment: Deployment) -> Iterator[Finding]:
    for node in _readable(deployment):
        if node.role != "master":
            continue
        policy = node.config.get("maxmemory-policy", "noeviction")
        maxmemory = _int(node.config.get("maxmemory"))
        if maxmemory and policy in _EVICTING_ALL:
            yield Finding(
                severity="error",
                code="evicting-policy",
                subject=node.address,
                reason=f"maxmemory-policy is {policy}: when memory is full Redis deletes sessions "
                "(every session key has a TTL, so volatile-* policies evict them too) and users are "
                "logged out without any error",
                fix="maxmemory-policy noeviction (writes then fail visibly with OOM), and alert on memory",
            )
        elif not maxmemory:
            yield Finding(
                severity="info",
                code="no-maxmemory",
                subject=node.address,
                reason="no maxmemory: if sessions outgrow the host, the kernel kills Redis",
                fix="maxmemory to about 70% of the host's memory, with maxmemory-policy noeviction",
            )


def tls_and_acl(deployment: Deployment) -> Iterator[Finding]:
    if not deployment.tls and not deployment.loopback:
        yield Finding(
            severity="warning",
            code="no-tls",
            subject="deployment",
            reason="the URL does not use TLS: session data and the Redis password cross the network "
            "in clear text",
            fix="rediss:// (or redis+sentinel://...?tls=true) with tls-port on the nodes",
        )
    items: tuple[NodeFacts | SentinelFacts, ...] = (*deployment.nodes, *deployment.sentinels)
    for item in items:
        if item.open_without_password:
            data = isinstance(item, NodeFacts)
            yield Finding(
                severity="error" if data and not deployment.loopback else "warning",
                code="no-auth",
                subject=item.address,
                reason="accepts commands without a password: anyone who reaches this port can read "
                "and change every session"
                if data
                else "this Sentinel accepts commands without a password: anyone who reaches it can "
                "trigger a failover or point clients elsewhere",
                fix="an ACL user for the application (ACL SETUSER hasession on >... ~hs:* +@read +@write "
                "+@scripting +ping +wait +role) and ACL SETUSER default off"
                if data
                else "requirepass (or ACLs) on the Sentinels, then sentinel_password in the URL",
            )


def cluster_health(deployment: Deployment) -> Iterator[Finding]:
    if deployment.kind != "cluster":
        return
    for node in _readable(deployment):
        state = node.cluster.get("cluster_state")
        if state is not None and state != "ok":
            yield Finding(
                severity="error",
                code="cluster-not-ok",
                subject=node.address,
                reason=f"cluster_state is {state!r}: this node refuses requests (CLUSTERDOWN)",
                fix="CLUSTER INFO and CLUSTER NODES on this node: look for failed primaries, uncovered slots",
            )
    epochs = {n.cluster.get("cluster_current_epoch") for n in _readable(deployment) if n.cluster}
    if len(epochs) > 1:
        yield Finding(
            severity="info",
            code="cluster-epochs-differ",
            subject="deployment",
            reason=f"nodes report different cluster_current_epoch ({', '.join(sorted(map(str, epochs)))}): "
            "normal for a few seconds after a failover, a partition if it lasts",
            fix="run check again in a minute",
        )


def consistent_settings(deployment: Deployment) -> Iterator[Finding]:
    """Settings that must survive a promotion have to be the same on every data node."""
    for setting in ("appendonly", "min-replicas-to-write", "min-replicas-max-lag", "maxmemory-policy"):
        values = {n.config[setting] for n in _readable(deployment) if setting in n.config}
        if len(values) > 1:
            listed = ", ".join(
                f"{n.address}={n.config[setting]}" for n in _readable(deployment) if setting in n.config
            )
            yield Finding(
                severity="warning",
                code="settings-differ",
                subject="deployment",
                reason=f"{setting} differs between nodes ({listed}): after a failover the new master "
                "runs with other rules than the old one",
                fix=f"the same {setting} on every data node",
            )


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
