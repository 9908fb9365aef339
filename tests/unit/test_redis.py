"""The one boundary with redis-py: its exceptions become hasession's."""

from __future__ import annotations

import pytest
import redis.exceptions as rex

from hasession import FailoverInProgress, StoreConnectionError, StoreResponseError, StoreTimeout
from hasession._redis import map_redis_errors, reply_error
from hasession._routing import NoScript, Redirected


def test_moved_is_not_mistaken_for_ask() -> None:  # redis-py: MovedError subclasses AskError
    error = reply_error(rex.MovedError("3999 127.0.0.1:6381"))
    assert isinstance(error, Redirected)
    assert not error.ask
    assert (error.slot, error.address.port) == (3999, 6381)


def test_ask_is_ask() -> None:
    error = reply_error(rex.AskError("3999 127.0.0.1:6381"))
    assert isinstance(error, Redirected)
    assert error.ask


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (rex.ReadOnlyError("You can't write against a read only replica."), FailoverInProgress),
        (rex.BusyLoadingError("Redis is loading the dataset in memory"), FailoverInProgress),
        (rex.MasterDownError("Link with MASTER is down"), FailoverInProgress),
        (rex.TryAgainError("Multiple keys request during rehashing of slot"), FailoverInProgress),
        (rex.ClusterDownError("The cluster is down"), FailoverInProgress),
        (rex.ResponseError("NOREPLICAS Not enough good replicas to write."), FailoverInProgress),
        (rex.ResponseError("BUSY Redis is busy running a script."), FailoverInProgress),
        (rex.NoScriptError("No matching script. Please use EVAL."), NoScript),
        (
            rex.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
            StoreResponseError,
        ),
    ],
)
def test_reply_errors(exc: rex.ResponseError, expected: type) -> None:
    assert type(reply_error(exc)) is expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (rex.TimeoutError("Timeout reading from socket"), StoreTimeout),
        (rex.ConnectionError("Connection refused"), StoreConnectionError),
        (ConnectionResetError(104, "reset"), StoreConnectionError),
        (rex.AuthenticationError("invalid password"), StoreResponseError),
        (rex.ReadOnlyError("You can't write against a read only replica."), FailoverInProgress),
    ],
)
def test_map_redis_errors_chains_the_original(exc: Exception, expected: type) -> None:
    with pytest.raises(expected) as caught, map_redis_errors("127.0.0.1:6379"):
        raise exc
    assert caught.value.__cause__ is exc
