"""Rules about the data: replicas, min-replicas, persistence, eviction, TLS and ACLs, Cluster state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from ._facts import (
    Deployment,
    Finding,
    NodeFacts,
    SentinelFacts,
    finding,
    masters,
    number,
    readable,
    replicas_of,
)

__all__ = [
    "cluster_health",
    "consistent_settings",
    "eviction",
    "min_replicas",
    "persistence",
    "replica_lag",
    "replica_priority",
    "replicas_present",
    "tls_and_acl",
]

#: Policies that delete keys with a TTL when memory is full: every session key has one.
_EVICTING_ALL = (
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)


# -- writes and replicas ----------------------------------------------------------------------------


def replicas_present(deployment: Deployment) -> Iterator[Finding]:
    if deployment.kind == "standalone":
        yield finding(
            "warning",
            "no-failover",
            "deployment",
            reason="a standalone Redis has no failover: when it stops, every request fails",
            fix="use Sentinel (redis+sentinel://) or Cluster (redis+cluster://) with replicas",
        )
        return
    for master in masters(deployment):
        if number(master.replication.get("connected_slaves")) == 0:
            yield finding(
                "error",
                "no-replica",
                master.address,
                reason="this master has no connected replica: if it fails there is nothing to promote, "
                "and every session it holds is gone",
                fix="attach at least one replica (replicaof / CLUSTER REPLICATE)",
            )


def min_replicas(deployment: Deployment) -> Iterator[Finding]:
    if deployment.kind == "standalone":
        return
    for master in masters(deployment):
        wanted = number(master.config.get("min-replicas-to-write"))
        lag = number(master.config.get("min-replicas-max-lag"), 10)
        attached = number(master.replication.get("connected_slaves"))
        if wanted == 0:
            yield finding(
                "warning",
                "min-replicas-off",
                master.address,
                reason="min-replicas-to-write is 0: a master cut off from the others keeps accepting "
                "session writes, and they are all lost when it rejoins as a replica",
                fix="min-replicas-to-write 1 and min-replicas-max-lag 10 (on every node, so they hold "
                "after a promotion)",
            )
        elif wanted > attached:
            yield finding(
                "error",
                "min-replicas-unmet",
                master.address,
                reason=f"min-replicas-to-write is {wanted} but {attached} replica(s) are attached: "
                "the master refuses every write (NOREPLICAS)",
                fix=f"attach replicas or set min-replicas-to-write {max(attached - 1, 1)}",
            )
        elif wanted == attached:
            yield finding(
                "warning",
                "min-replicas-all",
                master.address,
                reason=f"min-replicas-to-write is {wanted}, every replica: one replica down stops "
                "all session writes",
                fix=f"min-replicas-to-write {max(wanted - 1, 1)}, or add a replica",
            )
        if wanted and lag > 10:
            yield finding(
                "warning",
                "min-replicas-lag-long",
                master.address,
                reason=f"min-replicas-max-lag is {lag} s: an isolated master accepts writes (later lost) "
                "for that long",
                fix="min-replicas-max-lag 10 or less",
            )


def replica_lag(deployment: Deployment) -> Iterator[Finding]:
    for master in masters(deployment):
        allowed = max(number(master.config.get("min-replicas-max-lag"), 10), 1)
        for entry in replicas_of(master):
            where = f"{entry.get('ip')}:{entry.get('port')}"
            if entry.get("state") != "online":
                yield finding(
                    "error",
                    "replica-not-online",
                    where,
                    reason=f"replica of {master.address} is in state {entry.get('state')!r}: "
                    "it cannot take over with current data",
                    fix="look at this replica's log (full sync loop? repl-backlog-size too small?)",
                )
            elif number(entry.get("lag")) > allowed:
                yield finding(
                    "warning",
                    "replica-lagging",
                    where,
                    reason=f"replica of {master.address} last acknowledged {entry.get('lag')} s ago: "
                    "a failover to it would lose that much of session writes",
                    fix="look at the network and load between master and replica",
                )
    for node in readable(deployment):
        if node.role == "slave" and node.replication.get("master_link_status") == "down":
            yield finding(
                "error",
                "replica-link-down",
                node.address,
                reason="this replica's link to its master is down: it is serving stale sessions and "
                "cannot be promoted safely",
                fix="look at this replica's log; check masterauth and the network",
            )


def replica_priority(deployment: Deployment) -> Iterator[Finding]:
    if deployment.kind != "sentinel":
        return
    replicas = [n for n in readable(deployment) if n.role == "slave" and "replica-priority" in n.config]
    priorities = Counter(number(n.config["replica-priority"], 100) for n in replicas)
    if replicas and set(priorities) == {0}:
        yield finding(
            "error",
            "no-promotable-replica",
            "deployment",
            reason="every replica has replica-priority 0: Sentinel never promotes any of them",
            fix="replica-priority 100 on the replicas that may become master",
        )
    elif len(set(priorities) - {0}) > 1:
        listed = ", ".join(f"{n.address}={n.config['replica-priority']}" for n in replicas)
        yield finding(
            "warning",
            "unequal-priority",
            "deployment",
            reason=f"replicas have different replica-priority ({listed}): Sentinel promotes by "
            "priority before replication offset, so a less up-to-date replica can win and the "
            "writes only the others had are lost",
            fix="the same replica-priority on every replica (0 only for those that must never lead)",
        )


# -- data safety ------------------------------------------------------------------------------------


def persistence(deployment: Deployment) -> Iterator[Finding]:
    for node in readable(deployment):
        aof = node.config.get("appendonly", "no") == "yes"
        rdb = bool(node.config.get("save", "").strip())
        if "appendonly" not in node.config:
            continue
        if not aof and not rdb:
            yield finding(
                "error",
                "persistence-off",
                node.address,
                reason="no AOF and no RDB: if this node restarts (crash, OOM kill, deploy) it comes back "
                "empty, and a master that restarts empty before a failover wipes its replicas too: "
                "every user is logged out",
                fix="appendonly yes (appendfsync everysec)",
            )
        elif not aof:
            yield finding(
                "warning",
                "rdb-only",
                node.address,
                reason=f"only RDB snapshots (save {node.config.get('save')!r}): a restart loses every "
                "session written since the last snapshot",
                fix="appendonly yes (appendfsync everysec)",
            )


def eviction(deployment: Deployment) -> Iterator[Finding]:
    for node in readable(deployment):
        if node.role != "master":
            continue
        policy = node.config.get("maxmemory-policy", "noeviction")
        maxmemory = number(node.config.get("maxmemory"))
        if maxmemory and policy in _EVICTING_ALL:
            yield finding(
                "error",
                "evicting-policy",
                node.address,
                reason=f"maxmemory-policy is {policy}: when memory is full Redis deletes sessions "
                "(every session key has a TTL, so volatile-* policies evict them too) and users are "
                "logged out without any error",
                fix="maxmemory-policy noeviction (writes then fail visibly with OOM), and alert on memory",
            )
        elif not maxmemory:
            yield finding(
                "info",
                "no-maxmemory",
                node.address,
                reason="no maxmemory: if sessions outgrow the host, the kernel kills Redis",
                fix="maxmemory to about 70% of the host's memory, with maxmemory-policy noeviction",
            )


def tls_and_acl(deployment: Deployment) -> Iterator[Finding]:
    if not deployment.tls and not deployment.loopback:
        yield finding(
            "warning",
            "no-tls",
            "deployment",
            reason="the URL does not use TLS: session data and the Redis password cross the network "
            "in clear text",
            fix="rediss:// (or redis+sentinel://...?tls=true) with tls-port on the nodes",
        )
    items: tuple[NodeFacts | SentinelFacts, ...] = (*deployment.nodes, *deployment.sentinels)
    for item in items:
        if item.open_without_password:
            data = isinstance(item, NodeFacts)
            yield finding(
                "error" if data and not deployment.loopback else "warning",
                "no-auth",
                item.address,
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
    for node in readable(deployment):
        state = node.cluster.get("cluster_state")
        if state is not None and state != "ok":
            yield finding(
                "error",
                "cluster-not-ok",
                node.address,
                reason=f"cluster_state is {state!r}: this node refuses requests (CLUSTERDOWN)",
                fix="CLUSTER INFO and CLUSTER NODES on this node: look for failed primaries, uncovered slots",
            )
    epochs = {n.cluster.get("cluster_current_epoch") for n in readable(deployment) if n.cluster}
    if len(epochs) > 1:
        yield finding(
            "info",
            "cluster-epochs-differ",
            "deployment",
            reason=f"nodes report different cluster_current_epoch ({', '.join(sorted(map(str, epochs)))}): "
            "normal for a few seconds after a failover, a partition if it lasts",
            fix="run check again in a minute",
        )


def consistent_settings(deployment: Deployment) -> Iterator[Finding]:
    """Settings that must survive a promotion have to be the same on every data node."""
    for setting in ("appendonly", "min-replicas-to-write", "min-replicas-max-lag", "maxmemory-policy"):
        values = {n.config[setting] for n in readable(deployment) if setting in n.config}
        if len(values) > 1:
            listed = ", ".join(
                f"{n.address}={n.config[setting]}" for n in readable(deployment) if setting in n.config
            )
            yield finding(
                "warning",
                "settings-differ",
                "deployment",
                reason=f"{setting} differs between nodes ({listed}): after a failover the new master "
                "runs with other rules than the old one",
                fix=f"the same {setting} on every data node",
            )
