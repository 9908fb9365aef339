"""Rules about failing over: reachability, failure detection, the Sentinel group."""

from __future__ import annotations

from collections.abc import Iterator

from ._facts import (
    FAILOVER_OVERHEAD_MS,
    Deployment,
    Finding,
    finding,
    number,
    readable,
)

__all__ = ["detection_time", "failover_timeout", "sentinel_group", "sentinels_agree", "unreadable"]


# -- reachability --------------------------------------------------------------------------------


def unreadable(deployment: Deployment) -> Iterator[Finding]:
    for node in deployment.nodes:
        if node.error is not None:
            yield finding(
                "error",
                "node-unreadable",
                node.address,
                reason=f"could not read this node ({node.error}); its settings were not checked",
                fix="make it reachable, and allow CONFIG GET and INFO to the user hasession connects as",
            )
    for sentinel in deployment.sentinels:
        if sentinel.error is not None:
            yield finding(
                "error",
                "sentinel-unreadable",
                sentinel.address,
                reason=f"this Sentinel did not answer ({sentinel.error}): it cannot vote in a failover",
                fix="restart it, or remove it from the URL if it was decommissioned",
            )


# -- failure detection -----------------------------------------------------------------------------


def detection_time(deployment: Deployment) -> Iterator[Finding]:
    """down-after-milliseconds (Sentinel) or cluster-node-timeout (Cluster) against the hold budget."""
    budget_ms = deployment.hold_budget * 1000
    for subject, setting, value in _detection_settings(deployment):
        if value + FAILOVER_OVERHEAD_MS > budget_ms:
            yield finding(
                "error",
                "detection-too-slow",
                subject,
                reason=f"{setting} is {value} ms: a failover takes about {value + FAILOVER_OVERHEAD_MS} ms, "
                f"longer than the {deployment.hold_budget:g} s hasession holds a request, "
                "so users see errors during every unplanned failover",
                fix=f"set {setting} to 2000-5000, or raise RetryPolicy(hold_budget=...) above "
                f"{(value + FAILOVER_OVERHEAD_MS) / 1000:g} s",
            )
        elif value < 1000:
            yield finding(
                "warning",
                "detection-too-fast",
                subject,
                reason=f"{setting} is {value} ms: a busy node (a slow command, a fork, a GC pause of "
                "the host) is failed over for nothing, and each failover can lose unreplicated writes",
                fix=f"set {setting} to 2000-5000",
            )


def _detection_settings(deployment: Deployment) -> Iterator[tuple[str, str, int]]:
    for sentinel in deployment.sentinels:
        if sentinel.error is None and "down-after-milliseconds" in sentinel.master:
            value = number(sentinel.master["down-after-milliseconds"])
            yield sentinel.address, "sentinel down-after-milliseconds", value
    if deployment.kind == "cluster":
        for node in readable(deployment):
            if "cluster-node-timeout" in node.config:
                yield node.address, "cluster-node-timeout", number(node.config["cluster-node-timeout"])


def failover_timeout(deployment: Deployment) -> Iterator[Finding]:
    for sentinel in deployment.sentinels:
        if sentinel.error is not None or "failover-timeout" not in sentinel.master:
            continue
        value = number(sentinel.master["failover-timeout"])
        down_after = number(sentinel.master.get("down-after-milliseconds"), 30000)
        if value > 60000:
            yield finding(
                "warning",
                "failover-timeout-long",
                sentinel.address,
                reason=f"failover-timeout is {value} ms: if a promotion fails (the chosen replica dies), "
                f"Sentinel waits {2 * value / 1000:g} s before trying again, and sessions are "
                "unavailable all that time",
                fix="set sentinel failover-timeout to 10000-60000",
            )
        elif value < 3 * down_after:
            yield finding(
                "warning",
                "failover-timeout-short",
                sentinel.address,
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
    known = max(number(s.master.get("num-other-sentinels")) + 1 for s in live)
    quorum = max(number(s.master.get("quorum")) for s in live)
    if known < 3:
        yield finding(
            "error",
            "too-few-sentinels",
            "deployment",
            reason=f"{known} Sentinel(s) monitor the master: a failover needs a majority to vote, "
            "so one Sentinel down (or the one on the master's host) leaves nobody to fail over",
            fix="run 3 or 5 Sentinels, on hosts that fail independently",
        )
    elif known % 2 == 0:
        yield finding(
            "warning",
            "even-sentinels",
            "deployment",
            reason=f"{known} Sentinels: an even number tolerates no more failures than {known - 1}",
            fix=f"run {known + 1} Sentinels",
        )
    yield from _quorum(quorum, known)
    if len(deployment.sentinels) < known:
        yield finding(
            "warning",
            "url-lists-few-sentinels",
            "deployment",
            reason=f"the URL lists {len(deployment.sentinels)} of the {known} Sentinels: if those are "
            "down the application cannot find the master, though others could answer",
            fix="list every Sentinel in the redis+sentinel:// URL",
        )


def _quorum(quorum: int, known: int) -> Iterator[Finding]:
    majority = known // 2 + 1
    if quorum > known:
        yield finding(
            "error",
            "quorum-unreachable",
            "deployment",
            reason=f"quorum is {quorum} but only {known} Sentinels exist: the master is never "
            "declared down, so no failover ever happens",
            fix=f"sentinel monitor <name> <host> <port> {majority}",
        )
    elif quorum < majority:
        yield finding(
            "warning",
            "quorum-below-majority",
            "deployment",
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
        yield finding(
            "error",
            "sentinels-disagree",
            "deployment",
            reason=f"the Sentinels disagree on the master: {described}. Clients asking different "
            "Sentinels write to different masters, and one side's writes are lost",
            fix="find the partitioned or stale Sentinel; SENTINEL RESET <name> on it once it is reachable",
        )
    for sentinel in live:
        flags = sentinel.master.get("flags", "")
        if "s_down" in flags or "o_down" in flags:
            yield finding(
                "error",
                "master-down",
                sentinel.address,
                reason=f"this Sentinel sees the master as down (flags {flags})",
                fix="look at the master and the network between it and this Sentinel",
            )
