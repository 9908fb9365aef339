"""``hasession sessions list|show|revoke`` and ``hasession stats`` on real Redis and a real Cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from hasession import SessionStore
from hasession.testing import ClusterTopology

SECRET = "sessions-cli-test-secret-0123456789"


def hasession(*args: str, secret: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HASESSION_SECRET_KEY"}
    if secret:
        env["HASESSION_SECRET_KEY"] = SECRET
    return subprocess.run(
        [sys.executable, "-m", "hasession", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def as_json(*args: str, secret: bool = False) -> Any:
    done = hasession(*args, "--json", secret=secret)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def make_sessions(url: str, count: int, *, user: str | None = None) -> list[tuple[str, str]]:
    """(cookie, public id) of ``count`` new sessions."""
    made = []
    with SessionStore.from_url(url, secret_keys=SECRET) as store:
        for i in range(count):
            session = store.open(None)
            session["cart"] = [i, "book"]
            if user is not None:
                session.user_id = user
            cookie = store.save(session).value
            assert cookie is not None
            public_id = store.public_id(store.load(cookie))
            assert public_id is not None
            made.append((cookie, public_id))
    return made


def test_list_prints_public_ids_and_never_a_cookie(hasession_redis_url: str) -> None:
    made = make_sessions(hasession_redis_url, 3) + make_sessions(hasession_redis_url, 2, user="alice")
    listed = as_json("sessions", "list", hasession_redis_url)
    text = hasession("sessions", "list", hasession_redis_url)
    assert listed["total"] == 5
    assert {s["public_id"] for s in listed["sessions"]} == {public_id for _, public_id in made}
    assert sorted(str(s["user"]) for s in listed["sessions"]) == ["None"] * 3 + ["alice"] * 2
    for cookie, _ in made:
        raw_id = cookie.rsplit(".", 1)[0]
        assert raw_id not in text.stdout
        assert raw_id not in json.dumps(listed)
    assert "5 session(s)" in text.stdout


def test_list_uses_scan_and_never_keys(hasession_redis_url: str) -> None:
    make_sessions(hasession_redis_url, 3)
    node = redis.Redis.from_url(hasession_redis_url)
    node.config_resetstat()
    assert hasession("sessions", "list", hasession_redis_url).returncode == 0
    assert hasession("stats", hasession_redis_url).returncode == 0
    commands = node.info("commandstats")
    node.close()
    assert "cmdstat_scan" in commands
    assert "cmdstat_keys" not in commands


def test_list_of_one_user_needs_the_secret(hasession_redis_url: str) -> None:
    alice = make_sessions(hasession_redis_url, 2, user="alice")
    make_sessions(hasession_redis_url, 1, user="bob")
    assert hasession("sessions", "list", hasession_redis_url, "--user", "alice").returncode != 0
    listed = as_json("sessions", "list", hasession_redis_url, "--user", "alice", secret=True)
    assert {s["public_id"] for s in listed["sessions"]} == {p for _, p in alice}


def test_show_then_revoke_one_session(hasession_redis_url: str) -> None:
    ((cookie, public_id),) = make_sessions(hasession_redis_url, 1, user="carol")
    shown = as_json("sessions", "show", hasession_redis_url, public_id, "--values")
    assert shown["user"] == "carol"
    assert shown["values"] == {"cart": [0, "book"]}
    assert set(shown["fields"]) == {"cart"}
    assert cookie.rsplit(".", 1)[0] not in json.dumps(shown)
    done = hasession("sessions", "revoke", hasession_redis_url, public_id)
    assert done.returncode == 0, done.stderr
    with SessionStore.from_url(hasession_redis_url, secret_keys=SECRET) as store:
        assert store.load(cookie).new  # the cookie no longer logs anyone in
    assert hasession("sessions", "show", hasession_redis_url, public_id).returncode == 1
    assert hasession("sessions", "revoke", hasession_redis_url, public_id).returncode == 1
    assert hasession("sessions", "show", hasession_redis_url, "not-a-public-id").returncode != 0


def test_revoke_every_session_of_a_user(hasession_redis_url: str) -> None:
    dave = make_sessions(hasession_redis_url, 3, user="dave")
    (other,) = make_sessions(hasession_redis_url, 1, user="erin")
    done = hasession("sessions", "revoke", hasession_redis_url, "--user", "dave", secret=True)
    assert done.returncode == 0, done.stderr
    assert "revoked 3" in done.stdout
    with SessionStore.from_url(hasession_redis_url, secret_keys=SECRET) as store:
        assert all(store.load(cookie).new for cookie, _ in dave)
        assert not store.load(other[0]).new


def test_stats_count_memory_and_ttl(hasession_redis_url: str) -> None:
    make_sessions(hasession_redis_url, 4, user="frank")
    make_sessions(hasession_redis_url, 2)
    ((_, revoked),) = make_sessions(hasession_redis_url, 1)
    assert hasession("sessions", "revoke", hasession_redis_url, revoked).returncode == 0
    summary = as_json("stats", hasession_redis_url)
    assert summary["sessions"] == 6
    assert summary["with_user"] == 4
    assert summary["tombstones"] == 1
    assert summary["memory"]["sampled_keys"] == 6
    assert summary["memory"]["mean_bytes"] > 0
    idle_s = 14 * 24 * 3600
    assert 0 < summary["ttl"]["min_s"] <= summary["ttl"]["p50_s"] <= summary["ttl"]["max_s"] <= idle_s
    assert sum(summary["ttl"]["buckets"].values()) == 6


@pytest.mark.slow
def test_list_and_stats_scan_every_cluster_primary(hasession_redis_cluster: ClusterTopology) -> None:
    made = make_sessions(hasession_redis_cluster.url, 40)
    seed = f"redis+cluster://{hasession_redis_cluster.nodes[0].host}:{hasession_redis_cluster.nodes[0].port}"
    listed = as_json("sessions", "list", seed, "--limit", "0")
    assert {s["public_id"] for s in listed["sessions"]} == {p for _, p in made}
    summary = as_json("stats", seed)
    assert summary["sessions"] == 40
    assert len(summary["per_primary"]) == len(hasession_redis_cluster.primaries())
    assert sum(n > 0 for n in summary["per_primary"].values()) > 1  # spread over the slots
    by_owner = {}  # one session per primary: `show` must follow MOVED to each
    for _, public_id in made:
        tag, _, hashed = public_id.partition(".")
        owner = hasession_redis_cluster.slot_owner(key_slot(f"hs:{{{tag}}}:{hashed}".encode()))
        by_owner.setdefault(owner.port, public_id)
    assert len(by_owner) == len(hasession_redis_cluster.primaries())
    for public_id in by_owner.values():
        assert as_json("sessions", "show", seed, public_id)["public_id"] == public_id


@pytest.mark.slow
def test_sessions_through_sentinel_after_a_failover(hasession_redis_sentinel: Any) -> None:
    made = make_sessions(hasession_redis_sentinel.url, 3, user="gina")
    hasession_redis_sentinel.wait_for_replicas_synced()
    old = hasession_redis_sentinel.current_master()
    hasession_redis_sentinel.failover()
    hasession_redis_sentinel.wait_for_new_master(old)
    listed = as_json("sessions", "list", hasession_redis_sentinel.url)  # asks Sentinel for the current master
    assert {s["public_id"] for s in listed["sessions"]} == {p for _, p in made}
    assert as_json("stats", hasession_redis_sentinel.url)["sessions"] == 3


@pytest.mark.parametrize("action", ["show", "revoke"])
def test_a_public_id_that_begins_with_a_dash_is_an_argument(action: str) -> None:
    """One public id in 64 begins with ``-`` (base64url); argparse took it for an unknown option."""
    from hasession._cli import parser

    public_id = "-KoLf2Nn.t6ebVokALxNEFdkACzAqYhfq4zTuVzd3t_GOleCHOj0"
    args = parser().parse_args(["sessions", action, "redis://127.0.0.1:1", public_id, "--json"])
    assert args.public_id == public_id
    assert args.json
