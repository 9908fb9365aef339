"""Least privilege: a user with exactly the ACL rule of docs/security.md runs every store operation.

The rules are read from the document itself, so the page and the test cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.exceptions

import hasession
from hasession import DurabilityPolicy, StoreMisconfigured
from hasession.testing import RedisServer, SentinelTopology, wait_until
from hasession.testing._redisops import command

from .conftest import PASSWORD, SECRET, SENTINEL_PASSWORD

DOC = Path(__file__).parents[2] / "docs" / "security.md"
APP_PASSWORD = "app-password-7c2e"
APP_SENTINEL_PASSWORD = "app-sentinel-password-5d0a"


def rule(name: str) -> list[str]:
    """The words of the ACL rule marked ``<!-- acl:name -->`` in docs/security.md (after the user name)."""
    match = re.search(rf"<!-- acl:{name} -->\n```\n(.*?)\n```", DOC.read_text(), re.S)
    assert match is not None, f"docs/security.md has no acl:{name} block"
    words = match[1].split()
    if words[:2] == ["ACL", "SETUSER"]:
        words = words[3:]  # "ACL SETUSER hasession ..."
    secret = {">APP_PASSWORD": f">{APP_PASSWORD}", ">SENTINEL_PASSWORD": f">{APP_SENTINEL_PASSWORD}"}
    return [secret.get(word, word) for word in words]


def set_user(node: object, name: str, words: list[str]) -> None:
    command(node.admin, "ACL", "SETUSER", name, "reset", *words)  # type: ignore[attr-defined]


def exercise(store: hasession.SessionStore) -> None:
    """Every store operation an application uses, checking each one's outcome."""
    session = store.load(None)  # no cookie: no Redis command
    session["cart"] = ["book"]
    session.user_id = "ada"
    created = store.save(session)  # create
    assert created.cookie == "set" and created.wrote
    session = store.load(created.value)  # load
    assert session["cart"] == ["book"]
    session["cart"] = ["book", "pen"]
    assert store.save(session).wrote  # save a delta
    session.cycle_id()  # log-in: a fresh id
    cycled = store.save(session)
    assert cycled.value != created.value
    assert store.load(created.value).new  # the old id is gone
    others = [store.save(_user_session(store, "ada")) for _ in range(3)]
    listed = store.sessions_of("ada")  # sessions_of
    assert len(listed) == 4
    mine = store.load(cycled.value)
    first = store.public_id(store.load(others[0].value))
    assert first is not None and store.revoke(first, user_id="ada")  # revoke
    assert store.revoke_user("ada", keep=mine) == 2  # revoke_user
    assert [info.public_id for info in store.sessions_of("ada")] == [store.public_id(mine)]
    mine.destroy()  # log-out
    assert store.save(mine).cookie == "delete"
    assert store.load(cycled.value).new
    assert store.stats.retries == 0


def _user_session(store: hasession.SessionStore, user: str) -> hasession.Session:
    session = store.load(None)
    session.user_id = user
    session["n"] = 1
    return session


# -- standalone -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def acl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(password=PASSWORD, tmpdir=tmp_path_factory.mktemp("acl")) as server:
        set_user(server.node, "hasession", rule("data"))
        yield server


def test_standalone_with_exactly_the_documented_rule(acl_server: RedisServer) -> None:
    url = f"redis://hasession:{APP_PASSWORD}@127.0.0.1:{acl_server.port}/0"
    with hasession.SessionStore.from_url(url, secret_keys=SECRET) as store:
        exercise(store)
    assert command(acl_server.node.admin, "GET", "hs:canary") is not None  # the canary ran


def test_the_rule_grants_nothing_beyond_our_prefix(acl_server: RedisServer) -> None:
    app = acl_server.node.client()
    app.execute_command("AUTH", "hasession", APP_PASSWORD)
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.execute_command("GET", "other:key")
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.execute_command("KEYS", "*")
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.execute_command("FLUSHALL")
    app.close()


# -- Sentinel ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def acl_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelTopology]:
    """Admin passwords for the harness and Sentinel's links; two application users per process:
    ``hasession`` (the rule plus what switchover needs) and ``app`` (the rule only)."""
    with SentinelTopology(
        replicas=1,
        sentinels=3,
        password=PASSWORD,
        sentinel_password=SENTINEL_PASSWORD,
        tmpdir=tmp_path_factory.mktemp("acl-sentinel"),
    ) as topology:
        data, sentinel = [*rule("data"), "+role"], rule("sentinel")
        for node in topology.nodes:
            set_user(node, "hasession", [*data, *rule("switchover-data")])
            set_user(node, "app", data)
        for node in topology.sentinels:
            set_user(node, "hasession", [*sentinel, *rule("switchover-sentinel")])
            set_user(node, "app", sentinel)
        yield topology


def _sentinel_url(topology: SentinelTopology, user: str) -> str:
    hosts = ",".join(f"{host}:{port}" for host, port in topology.sentinel_addresses)
    query = f"sentinel_username={user}&sentinel_password={APP_SENTINEL_PASSWORD}"
    return f"redis+sentinel://{user}:{APP_PASSWORD}@{hosts}/mymaster/0?{query}"


def _subscribed(topology: SentinelTopology) -> bool:
    """Every Sentinel has a client of user ``hasession`` with a pattern subscription (the events)."""
    lists = [str(command(s.admin, "CLIENT", "LIST")) for s in topology.sentinels]
    return all(re.search(r"\bpsub=1\b.*\buser=hasession\b", text) for text in lists)


def test_sentinel_with_exactly_the_documented_rules(acl_sentinel: SentinelTopology) -> None:
    durable = DurabilityPolicy(mode="replicated", replicas=1)  # WAIT is in the rule too
    url = _sentinel_url(acl_sentinel, "hasession")
    with hasession.SessionStore.from_url(url, secret_keys=SECRET, durability=durable) as store:
        exercise(store)
        wait_until(
            lambda: _subscribed(acl_sentinel), timeout=10, message="the store to follow Sentinel events"
        )
        acl_sentinel.wait_for_replicas_synced()
        old = acl_sentinel.current_master()
        result = store.switchover()
        assert (result.old.host, result.old.port) == old.address
        session = store.load(None)
        session["after"] = "switchover"
        cookie = store.save(session).value
        assert store.load(cookie)["after"] == "switchover"
    master = acl_sentinel.wait_for_new_master(old)
    assert command(master.admin, "GET", "hs:canary") is not None


def test_switchover_needs_the_extra_rule(
    acl_sentinel: SentinelTopology, caplog: pytest.LogCaptureFixture
) -> None:
    with hasession.SessionStore.from_url(_sentinel_url(acl_sentinel, "app"), secret_keys=SECRET) as store:
        exercise(store)  # the application's own operations need nothing more
        with pytest.raises(StoreMisconfigured) as caught:
            store.switchover()
    assert caught.value.cause == "acl"
    assert "client|pause" in str(caught.value) or "client" in str(caught.value).lower()
