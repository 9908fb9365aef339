"""The rules of ``hasession check``, from plain facts (no Redis)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hasession._check import Deployment, NodeFacts, SentinelFacts, check

GOOD_CONFIG = {
    "appendonly": "yes",
    "save": "3600 1",
    "min-replicas-to-write": "1",
    "min-replicas-max-lag": "10",
    "replica-priority": "100",
    "maxmemory": "1000000",
    "maxmemory-policy": "noeviction",
}


def master(address: str = "10.0.0.1:6379", replicas: int = 2, **config: str) -> NodeFacts:
    slaves = {
        f"slave{i}": f"ip=10.0.0.{i + 2},port=6379,state=online,offset=100,lag=0" for i in range(replicas)
    }
    return NodeFacts(
        address=address,
        config={**GOOD_CONFIG, **config},
        replication={"role": "master", "connected_slaves": str(replicas), **slaves},
        open_without_password=False,
    )


def replica(address: str, **config: str) -> NodeFacts:
    return NodeFacts(
        address=address,
        config={**GOOD_CONFIG, **config},
        replication={"role": "slave", "master_link_status": "up"},
        open_without_password=False,
    )


def sentinel(address: str, **fields: str) -> SentinelFacts:
    master_fields = {
        "ip": "10.0.0.1",
        "port": "6379",
        "config-epoch": "3",
        "flags": "master",
        "quorum": "2",
        "num-other-sentinels": "2",
        "down-after-milliseconds": "3000",
        "failover-timeout": "30000",
        **fields,
    }
    return SentinelFacts(address=address, master=master_fields, open_without_password=False)


def healthy() -> Deployment:
    return Deployment(
        kind="sentinel",
        nodes=(master(), replica("10.0.0.2:6379"), replica("10.0.0.3:6379")),
        sentinels=tuple(sentinel(f"10.0.1.{i}:26379") for i in range(3)),
        tls=True,
    )


def codes(deployment: Deployment) -> dict[str, str]:
    return {f.code: f.severity for f in check(deployment)}


def with_master(deployment: Deployment, node: NodeFacts) -> Deployment:
    return replace(deployment, nodes=(node, *deployment.nodes[1:]))


def with_sentinels(deployment: Deployment, **fields: str) -> Deployment:
    return replace(deployment, sentinels=tuple(sentinel(s.address, **fields) for s in deployment.sentinels))


def test_a_healthy_deployment_has_no_findings() -> None:
    assert check(healthy()) == []


@pytest.mark.parametrize(
    ("down_after", "budget", "expected"),
    [("30000", 10.0, "error"), ("8500", 10.0, "error"), ("8000", 10.0, None), ("30000", 40.0, None)],
)
def test_down_after_is_compared_with_the_hold_budget(down_after: str, budget: float, expected: str) -> None:
    deployment = replace(
        with_sentinels(healthy(), **{"down-after-milliseconds": down_after, "failover-timeout": "90000"}),
        hold_budget=budget,
    )
    assert codes(deployment).get("detection-too-slow") == expected


def test_a_very_short_down_after_is_a_warning() -> None:
    assert codes(with_sentinels(healthy(), **{"down-after-milliseconds": "200"}))["detection-too-fast"] == (
        "warning"
    )


@pytest.mark.parametrize(
    ("timeout", "code"), [("180000", "failover-timeout-long"), ("5000", "failover-timeout-short")]
)
def test_failover_timeout(timeout: str, code: str) -> None:
    assert code in codes(with_sentinels(healthy(), **{"failover-timeout": timeout}))


def test_too_few_sentinels_and_an_unreachable_quorum() -> None:
    deployment = replace(
        healthy(), sentinels=(sentinel("s:1", **{"num-other-sentinels": "1", "quorum": "3"}),)
    )
    found = codes(deployment)
    assert found["too-few-sentinels"] == "error"
    assert found["quorum-unreachable"] == "error"
    assert "url-lists-few-sentinels" in found


def test_a_quorum_below_the_majority_is_a_warning() -> None:
    assert codes(with_sentinels(healthy(), quorum="1"))["quorum-below-majority"] == "warning"


def test_sentinels_that_disagree_on_the_master() -> None:
    base = healthy()
    stale = sentinel(base.sentinels[0].address, ip="10.0.0.9", **{"config-epoch": "2"})
    assert codes(replace(base, sentinels=(stale, *base.sentinels[1:])))["sentinels-disagree"] == "error"


def test_a_sentinel_that_does_not_answer() -> None:
    base = healthy()
    dead = SentinelFacts(address="s:9", error="ConnectionError: refused")
    assert codes(replace(base, sentinels=(*base.sentinels, dead)))["sentinel-unreadable"] == "error"


@pytest.mark.parametrize(
    ("wanted", "code", "severity"),
    [
        ("0", "min-replicas-off", "warning"),
        ("3", "min-replicas-unmet", "error"),
        ("2", "min-replicas-all", "warning"),
    ],
)
def test_min_replicas_to_write(wanted: str, code: str, severity: str) -> None:
    base = healthy()
    nodes = tuple(replace(n, config={**n.config, "min-replicas-to-write": wanted}) for n in base.nodes)
    assert codes(replace(base, nodes=nodes)).get(code) == severity


def test_a_long_max_lag() -> None:
    assert "min-replicas-lag-long" in codes(with_master(healthy(), master(**{"min-replicas-max-lag": "60"})))


@pytest.mark.parametrize(
    ("appendonly", "save", "expected"),
    [("no", "", ("persistence-off", "error")), ("no", "3600 1", ("rdb-only", "warning")), ("yes", "", None)],
)
def test_persistence(appendonly: str, save: str, expected: tuple[str, str] | None) -> None:
    base = healthy()
    nodes = tuple(replace(n, config={**n.config, "appendonly": appendonly, "save": save}) for n in base.nodes)
    found = codes(replace(base, nodes=nodes))
    persistence = {c: s for c, s in found.items() if c in ("persistence-off", "rdb-only")}
    assert persistence == (dict([expected]) if expected else {})


def test_unequal_replica_priority() -> None:
    base = healthy()
    nodes = (base.nodes[0], base.nodes[1], replica("10.0.0.3:6379", **{"replica-priority": "10"}))
    assert codes(replace(base, nodes=nodes))["unequal-priority"] == "warning"


def test_no_promotable_replica() -> None:
    base = healthy()
    nodes = (
        base.nodes[0],
        *(replace(n, config={**n.config, "replica-priority": "0"}) for n in base.nodes[1:]),
    )
    assert codes(replace(base, nodes=nodes))["no-promotable-replica"] == "error"


@pytest.mark.parametrize(
    ("policy", "maxmemory", "expected"),
    [
        ("allkeys-lru", "1000", "error"),
        ("volatile-ttl", "1000", "error"),
        ("noeviction", "1000", None),
        ("allkeys-lru", "0", None),
    ],
)
def test_evicting_policies(policy: str, maxmemory: str, expected: str | None) -> None:
    node = master(**{"maxmemory-policy": policy, "maxmemory": maxmemory})
    base = healthy()
    nodes = (node, *(replace(n, config={**n.config, "maxmemory-policy": policy}) for n in base.nodes[1:]))
    assert codes(replace(base, nodes=nodes)).get("evicting-policy") == expected


def test_lagging_and_offline_replicas() -> None:
    node = master(replicas=0)
    node = replace(
        node,
        replication={
            "role": "master",
            "connected_slaves": "2",
            "slave0": "ip=10.0.0.2,port=6379,state=online,offset=1,lag=30",
            "slave1": "ip=10.0.0.3,port=6379,state=wait_bgsave,offset=0,lag=0",
        },
    )
    found = codes(with_master(healthy(), node))
    assert found["replica-lagging"] == "warning"
    assert found["replica-not-online"] == "error"


def test_a_replica_whose_link_is_down() -> None:
    base = healthy()
    broken = replace(base.nodes[1], replication={"role": "slave", "master_link_status": "down"})
    assert codes(replace(base, nodes=(base.nodes[0], broken, base.nodes[2])))["replica-link-down"] == "error"


def test_a_master_without_replicas() -> None:
    assert codes(with_master(healthy(), master(replicas=0)))["no-replica"] == "error"


def test_tls_and_passwords() -> None:
    base = replace(healthy(), tls=False)
    open_node = replace(base.nodes[0], open_without_password=True)
    found = codes(replace(base, nodes=(open_node, *base.nodes[1:])))
    assert found["no-tls"] == "warning"
    assert found["no-auth"] == "error"


def test_loopback_relaxes_tls_and_auth() -> None:
    base = replace(healthy(), tls=False, loopback=True)
    open_node = replace(base.nodes[0], open_without_password=True)
    found = codes(replace(base, nodes=(open_node, *base.nodes[1:])))
    assert "no-tls" not in found
    assert found["no-auth"] == "warning"


def test_settings_that_differ_between_nodes() -> None:
    base = healthy()
    nodes = (*base.nodes[:2], replica("10.0.0.3:6379", appendonly="no"))
    assert codes(replace(base, nodes=nodes))["settings-differ"] == "warning"


def test_cluster_rules() -> None:
    nodes = (
        replace(
            master("n1:1", replicas=1, **{"cluster-node-timeout": "15000"}), cluster={"cluster_state": "ok"}
        ),
        replace(replica("n2:1"), cluster={"cluster_state": "fail"}),
    )
    found = codes(Deployment(kind="cluster", nodes=nodes, tls=True))
    assert found["detection-too-slow"] == "error"
    assert found["cluster-not-ok"] == "error"
    assert "unequal-priority" not in found  # Cluster does not use replica-priority


def test_errors_come_first() -> None:
    base = with_sentinels(healthy(), quorum="1", **{"down-after-milliseconds": "60000"})
    severities = [f.severity for f in check(base)]
    assert severities == sorted(severities, key=("error", "warning", "info").index)
    assert severities[0] == "error"


def test_standalone_has_no_failover() -> None:
    node = replace(master(replicas=0), replication={"role": "master", "connected_slaves": "0"})
    found = codes(Deployment(kind="standalone", nodes=(node,), tls=True))
    assert found == {"no-failover": "warning"}


def _codes(source: str) -> set[str]:
    """The literal codes of the findings a rule module builds: ``finding(severity, code, ...)``, or
    ``Finding(code=...)``."""
    import ast

    calls = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)]
    named = [(call, getattr(call.func, "id", "")) for call in calls]
    given = [call.args[1] for call, name in named if name == "finding" and len(call.args) > 1]
    given += [
        kw.value for call, name in named if name == "Finding" for kw in call.keywords if kw.arg == "code"
    ]
    return {node.value for node in given if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_every_finding_is_explained_in_the_deployment_guide() -> None:
    from pathlib import Path

    import hasession._check as rules

    sources = Path(rules.__file__).parent.glob("*.py")
    codes = {code for path in sources for code in _codes(path.read_text())}
    guide = (Path(__file__).parents[2] / "docs" / "deployment.md").read_text()
    assert len(codes) > 20
    assert sorted(c for c in codes if f"`{c}`" not in guide) == []
