"""Script / Eval / Batch: the wire form of a batch and how its replies are settled."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from hasession import _scripts
from hasession._commands import Batch, Call, Eval, Script, pack
from hasession._exceptions import (
    FailoverInProgress,
    NotReplicated,
    StoreError,
    StoreResponseError,
)
from hasession._topology import Address

SCRIPT = Script("demo", "return 1")
EVAL = Eval(SCRIPT, ("k1", "k2"), ("a", 2))
GET = Call(("GET", "k1"))


def test_a_script_knows_its_sha1() -> None:
    assert SCRIPT.sha == hashlib.sha1(b"return 1").hexdigest()
    with pytest.raises(dataclasses.FrozenInstanceError):
        SCRIPT.sha = "x"  # type: ignore[misc]


def test_the_scripts_are_distinct() -> None:
    scripts = [getattr(_scripts, name) for name in _scripts.__all__]
    assert all(isinstance(s, Script) for s in scripts)
    assert len({s.sha for s in scripts}) == len({s.name for s in scripts}) == len(scripts)


def test_eval_by_sha_and_by_source() -> None:
    assert EVAL.as_args(by_sha=True) == ("EVALSHA", SCRIPT.sha, 2, "k1", "k2", "a", 2)
    assert EVAL.as_args(by_sha=False) == ("EVAL", "return 1", 2, "k1", "k2", "a", 2)


def test_wire_of_a_plain_batch() -> None:
    batch = Batch((EVAL, GET), route="k1")
    assert batch.write
    assert batch.wire() == [("EVALSHA", SCRIPT.sha, 2, "k1", "k2", "a", 2), ("GET", "k1")]
    assert batch.wire(by_sha=False)[0][:2] == ("EVAL", "return 1")


def test_wire_appends_wait_and_prefixes_asking() -> None:
    batch = Batch((GET,), route="k1", wait_replicas=2, wait_timeout_ms=300, asking=True)
    assert batch.wire() == [("ASKING",), ("GET", "k1"), ("WAIT", 2, 300)]


@pytest.mark.parametrize(
    ("batch", "replies", "settled"),
    [
        (Batch((GET,), route="k"), [b"v"], [b"v"]),
        (Batch((GET, GET), route="k"), [None, b"v"], [None, b"v"]),
        (Batch((GET,), route="k", wait_replicas=1, wait_timeout_ms=5), [b"v", 1], [b"v"]),
        (Batch((GET,), route="k", wait_replicas=1, wait_timeout_ms=5), [b"v", 3], [b"v"]),
        (Batch((GET,), route="k", asking=True), [b"OK", b"v"], [b"v"]),
        (Batch((GET,), route="k", asking=True, wait_replicas=2, wait_timeout_ms=5), [b"OK", b"v", 2], [b"v"]),
    ],
)
def test_settle_drops_asking_and_wait_replies(
    batch: Batch, replies: list[object], settled: list[object]
) -> None:
    assert batch.settle(replies) == settled


@pytest.mark.parametrize("acked", [0, 1, None, b"2"])
def test_a_short_wait_is_not_an_acknowledgement(acked: object) -> None:
    batch = Batch((GET,), route="k", wait_replicas=2, wait_timeout_ms=5)
    with pytest.raises(NotReplicated):
        batch.settle([b"v", acked])


@pytest.mark.parametrize("error", [StoreResponseError("ERR x"), FailoverInProgress("READONLY x")])
def test_settle_raises_the_first_error_reply(error: StoreError) -> None:
    batch = Batch((GET, GET), route="k", wait_replicas=1, wait_timeout_ms=5)
    with pytest.raises(type(error)) as info:
        batch.settle([b"v", error, 0])  # the error wins over the short WAIT
    assert info.value is error


def test_a_targeted_batch_names_its_node() -> None:
    node = Address("10.0.0.1", 26379)
    batch = Batch((Call(("ROLE",)),), route="", write=False, node=node)
    assert batch.node == node
    assert batch.wire() == [("ROLE",)]


@pytest.mark.parametrize(
    "commands",
    [
        [("PING", b"17")],
        [
            ("PING", b"0"),
            ("EVALSHA", "a" * 40, 1, "hs:{tag}:h", "u", "rid", 1764530000000, 0, "", 2, ".k", b'{"x":1}'),
        ],
        [("HGETALL", "hs:{tag}:h"), ("WAIT", 1, 100)],
        [("CLUSTER NODES",), ("SENTINEL", "get-master-addr-by-name", "mymaster")],
        [("SET", "k", "caf\u00e9 \u2603"), ("SET", "k", -1.5), ("SET", "k", b"\x00\r\n" * 3000)],
    ],
)
def test_pack_gives_the_bytes_redis_py_sends(commands: list[tuple[Any, ...]]) -> None:
    from redis.connection import Connection

    assert pack(commands) == b"".join(Connection().pack_commands(commands))


def test_pack_refuses_what_redis_py_would_not_send() -> None:
    with pytest.raises(TypeError):
        pack([("SET", "k", True)])
    with pytest.raises(TypeError):
        pack([("SET", "k", None)])
