"""The one boundary with redis-py: its exceptions become hasession's."""

from __future__ import annotations

import ssl

import pytest
import redis.exceptions as rex

from hasession import (
    FailoverInProgress,
    StoreConnectionError,
    StoreMisconfigured,
    StoreResponseError,
    StoreTimeout,
)
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
        (rex.AuthenticationError("invalid password"), StoreMisconfigured),
        (rex.ReadOnlyError("You can't write against a read only replica."), FailoverInProgress),
    ],
)
def test_map_redis_errors_chains_the_original(exc: Exception, expected: type) -> None:
    with pytest.raises(expected) as caught, map_redis_errors("127.0.0.1:6379"):
        raise exc
    assert caught.value.__cause__ is exc


def _wrapped(original: OSError) -> rex.ConnectionError:
    """What redis-py raises for a failed connect: its own error, with the OS/TLS one as context."""
    try:
        raise original
    except OSError:
        try:
            raise rex.ConnectionError(f"Error connecting: {original}")
        except rex.ConnectionError as exc:
            return exc


def _ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower()}")
    error.reason = reason
    return error


def _verify_error(message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    error.verify_message = message
    return error


@pytest.mark.parametrize(
    "original",
    [
        _verify_error("unable to get local issuer certificate"),
        _verify_error("Hostname mismatch, certificate is not valid for '127.0.0.1'."),
        _ssl_error("TLSV1_ALERT_UNKNOWN_CA"),
        _ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED"),
        _ssl_error("WRONG_VERSION_NUMBER"),
    ],
)
def test_a_tls_trust_failure_is_a_configuration_error(original: OSError) -> None:
    with pytest.raises(StoreMisconfigured) as caught, map_redis_errors("127.0.0.1:6379"):
        raise _wrapped(original)
    assert caught.value.cause == "tls"
    assert "TLS" in str(caught.value)


@pytest.mark.parametrize(
    "original",
    [
        _ssl_error("UNEXPECTED_EOF_WHILE_READING"),
        ConnectionResetError(104, "reset"),
        ssl.SSLEOFError(8, "EOF"),
    ],
)
def test_other_tls_errors_are_lost_connections_and_retried(original: OSError) -> None:
    with pytest.raises(StoreConnectionError), map_redis_errors("127.0.0.1:6379"):
        raise _wrapped(original)
