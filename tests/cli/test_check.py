"""``hasession check`` on real topologies, with deliberately bad settings and with good ones."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from hasession.testing import ClusterTopology, SentinelTopology
from hasession.testing._redisops import command

pytestmark = pytest.mark.slow

GOOD = {
    "appendonly": "yes",
    "min-replicas-to-write": "1",
    "min-replicas-max-lag": "10",
    "maxmemory": "64mb",
    "maxmemory-policy": "noeviction",
}


def check(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "hasession", "check", "--json", *args, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stderr == ""
    return done.returncode, json.loads(done.stdout)


def findings(report: dict[str, Any]) -> dict[str, set[str]]:
    """code -> subjects"""
    found: dict[str, set[str]] = {}
    for finding in report["findings"]:
        found.setdefault(finding["code"], set()).add(finding["subject"])
    return found


def test_a_well_configured_sentinel_group_passes() -> None:
    with SentinelTopology(replicas=2, sentinels=3, down_after_ms=2000, redis_config=GOOD) as topology:
        code, report = check(topology.url)
    assert report["summary"]["error"] == 0, report
    assert code == 0


def test_bad_sentinel_settings_are_found_on_every_node() -> None:
    bad = {"maxmemory": "64mb", "maxmemory-policy": "allkeys-lru", "min-replicas-to-write": "3"}
    with SentinelTopology(
        replicas=2, sentinels=2, down_after_ms=9000, failover_timeout_ms=5000, redis_config=bad
    ) as topology:
        command(topology.nodes[2].admin, "CONFIG", "SET", "replica-priority", "50")
        code, report = check(topology.url)
        master = f"{topology.current_master().host}:{topology.current_master().port}"
        every_node = {f"{n.host}:{n.port}" for n in topology.nodes}
        every_sentinel = {f"{s.host}:{s.port}" for s in topology.sentinels}
    found = findings(report)
    assert code == 1
    assert found["persistence-off"] == every_node  # the harness runs without AOF or RDB
    assert found["detection-too-slow"] == every_sentinel
    assert found["failover-timeout-short"] == every_sentinel
    assert found["too-few-sentinels"] == {"deployment"}
    assert found["evicting-policy"] == {master}
    assert found["min-replicas-unmet"] == {master}
    assert "unequal-priority" in found
    assert all(f["reason"] and f["fix"] for f in report["findings"])


def test_a_dead_sentinel_is_reported() -> None:
    with SentinelTopology(replicas=1, sentinels=3, redis_config=GOOD) as topology:
        dead = topology.kill_sentinel(1)
        code, report = check(topology.url)
    assert code == 1
    assert findings(report)["sentinel-unreadable"] == {f"{dead.host}:{dead.port}"}


def test_cluster_settings_are_read_from_every_node() -> None:
    bad = {"maxmemory": "64mb", "maxmemory-policy": "volatile-lru"}
    with ClusterTopology(primaries=3, replicas_per_primary=1, redis_config=bad) as cluster:
        seed = f"redis+cluster://{cluster.nodes[0].host}:{cluster.nodes[0].port}"
        code, report = check(seed, "--hold-budget", "0.5")
        every_node = {f"{n.host}:{n.port}" for n in cluster.nodes}
        primaries = {f"{n.host}:{n.port}" for n in cluster.primaries()}
    found = findings(report)
    assert code == 1
    assert found["persistence-off"] == every_node  # found from one seed through CLUSTER NODES
    assert found["evicting-policy"] == primaries
    assert found["detection-too-slow"] == every_node  # node timeout 1 s + 2 s > 0.5 s budget


def test_cluster_nodes_addresses_are_parsed() -> None:
    from hasession import Address
    from hasession._cli._nodes import cluster_addresses

    text = (
        "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n"
        "b2 [::1]:7001@17001,host.example master - 0 0 2 connected 5461-10922\n"
        "c3 :0@0 master,noaddr - 0 0 3 disconnected\n"
    )
    assert cluster_addresses(text) == [Address("127.0.0.1", 7000), Address("::1", 7001)]


def test_a_sentinel_that_watches_another_master_is_reported() -> None:
    with SentinelTopology(replicas=1, sentinels=3, redis_config=GOOD) as topology:
        replica = topology.nodes[1]
        stray = topology.sentinels[2].admin
        command(stray, "SENTINEL", "REMOVE", topology.master_name)
        command(stray, "SENTINEL", "MONITOR", topology.master_name, replica.host, replica.port, 2)
        code, report = check(topology.url)
    assert code == 1
    assert "sentinels-disagree" in findings(report)
