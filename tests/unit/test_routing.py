"""error_from_reply and the standalone router: what an error reply says about the topology."""

from __future__ import annotations

import pytest

from hasession import ConfigurationError, StoreMisconfigured
from hasession._commands import Batch, Call
from hasession._exceptions import (
    FailoverInProgress,
    StoreConnectionError,
    StoreResponseError,
    StoreUnavailable,
)
from hasession._routing import (
    NoScript,
    Redirected,
    Send,
    StandaloneRouter,
    error_from_reply,
    role_of,
)
from hasession._topology import Address

FAILOVER_REPLIES = [
    "READONLY You can't write against a read only replica.",
    "LOADING Redis is loading the dataset in memory",
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "NOREPLICAS Not enough good replicas to write.",
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    "TRYAGAIN Multiple keys request during rehashing of slot",
    "CLUSTERDOWN The cluster is down",
    "CLUSTERDOWN Hash slot not served",
    "You can't write against a read only replica.",
    "readonly lower-case code",
]


@pytest.mark.parametrize("message", FAILOVER_REPLIES)
def test_failover_replies_are_retryable_and_not_applied(message: str) -> None:
    error = error_from_reply(message)
    assert type(error) is FailoverInProgress
    assert str(error) == message
    assert error.not_applied
    assert isinstance(error, StoreUnavailable)  # retried, then a 503


@pytest.mark.parametrize(
    ("message", "slot", "address", "ask"),
    [
        ("MOVED 3999 127.0.0.1:6381", 3999, Address("127.0.0.1", 6381), False),
        ("ASK 3999 127.0.0.1:6381", 3999, Address("127.0.0.1", 6381), True),
        ("MOVED 0 redis-2.example:7000", 0, Address("redis-2.example", 7000), False),
        ("MOVED 16383 [::1]:7001", 16383, Address("::1", 7001), False),
        ("ASK 12 ::1:7001", 12, Address("::1", 7001), True),
    ],
)
def test_redirections(message: str, slot: int, address: Address, ask: bool) -> None:
    error = error_from_reply(message)
    assert isinstance(error, Redirected)
    assert (error.slot, error.address, error.ask) == (slot, address, ask)
    assert isinstance(error, FailoverInProgress)  # never applied: safe to resend anywhere
    assert error.not_applied


def test_noscript_means_resend_with_the_source() -> None:
    error = error_from_reply("NOSCRIPT No matching script. Please use EVAL.")
    assert type(error) is NoScript
    assert error.not_applied


@pytest.mark.parametrize(
    "message",
    [
        "ERR unknown command 'FOO'",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "BUSYGROUP Consumer Group name already exists",
        "READONLYISH not a real code",
        "",
    ],
)
def test_other_replies_are_response_errors(message: str) -> None:
    error = error_from_reply(message)
    assert type(error) is StoreResponseError
    assert not isinstance(error, StoreUnavailable)


@pytest.mark.parametrize(
    ("reply", "role"),
    [
        ([b"master", 10, []], "master"),
        (["slave", "h", 1, "connected", 5], "slave"),
        ([b"sentinel", []], "sentinel"),
    ],
)
def test_role_of(reply: object, role: str) -> None:
    assert role_of(reply) == role


@pytest.mark.parametrize("reply", [None, [], b"master", 1])
def test_role_of_a_strange_reply(reply: object) -> None:
    with pytest.raises(StoreResponseError):
        role_of(reply)


def test_the_standalone_router_always_sends_to_its_server() -> None:
    address = Address("cache", 6379)
    router = StandaloneRouter(address)
    batch = Batch((Call(("GET", "k")),), route="k")
    assert router.plan(batch, 0.0) == Send(address)
    router.failed(address, StoreConnectionError("refused"), 1.0)
    assert router.plan(batch, 2.0) == Send(address)
    assert router.generation == 0
    assert router.stale() == ()
    assert router.settled


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ("NOPERM this user has no permissions to run the 'evalsha' command", "acl"),
        ("NOPERM this user has no permissions to access one of the keys used as arguments", "acl"),
        (
            "ERR Error running script (call to f_1): @user_script:1: NOPERM No permissions to access a key",
            "acl",
        ),
        ("WRONGPASS invalid username-password pair or user is disabled.", "auth"),
        ("NOAUTH Authentication required.", "auth"),
        ("Protocol error: unauthenticated multibulk length", "auth"),
    ],
)
def test_refusals_are_configuration_errors_never_retried(message: str, cause: str) -> None:
    error = error_from_reply(message)
    assert isinstance(error, StoreMisconfigured)
    assert isinstance(error, ConfigurationError)
    assert error.cause == cause
    assert message in str(error)
    assert not isinstance(error, StoreUnavailable)  # never retried
