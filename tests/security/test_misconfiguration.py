"""Configuration faults fail at once with :class:`StoreMisconfigured` naming the cause, on real servers.

Each case would otherwise look like an outage and be held for the whole hold budget (10 s by default)
before a ``StoreUnavailable`` that never says why. "At once" is checked without timing: the store
made no retry (``stats.retries == 0``); a failover would have made dozens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hasession import ConfigurationError, StoreMisconfigured, StoreUnavailable
from hasession.testing import RedisServer, SentinelTopology, TLSFiles
from hasession.testing._redisops import command

from .conftest import PASSWORD, SENTINEL_PASSWORD, tls_query

Roundtrip = Callable[..., Any]


def _refused(roundtrip: Roundtrip, url: str, caplog: pytest.LogCaptureFixture) -> StoreMisconfigured:
    """Run a session round trip that must fail at once; return the error (and check the log says so)."""
    caplog.set_level(logging.ERROR, logger="hasession")
    with pytest.raises(StoreMisconfigured) as caught:
        roundtrip(url)
    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert not isinstance(error, StoreUnavailable)  # not held like a failover
    logged = [r.getMessage() for r in caplog.records if "configuration error" in r.getMessage()]
    assert logged, "a configuration fault must be logged"
    assert f"({error.cause})" in logged[-1]
    return error


def _url(server: RedisServer, query: str, *, host: str = "127.0.0.1", password: str | None = PASSWORD) -> str:
    userinfo = f":{password}@" if password else ""
    return f"rediss://{userinfo}{host}:{server.port}/0?{query}"


# -- the good case, for contrast --------------------------------------------------------------------


def test_mutual_tls_with_the_right_ca_certificate_and_password_works(
    tls_server: RedisServer, tls_files: TLSFiles, roundtrip: Roundtrip
) -> None:
    stats = roundtrip(_url(tls_server, tls_query(tls_files, cert=tls_files)))
    assert stats.retries == 0


# -- TLS --------------------------------------------------------------------------------------------


def test_an_unknown_ca_fails_at_once(
    tls_server: RedisServer,
    tls_files: TLSFiles,
    stranger_tls: TLSFiles,
    roundtrip: Roundtrip,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = _url(tls_server, tls_query(tls_files, ca=stranger_tls.ca_cert, cert=tls_files))
    error = _refused(roundtrip, url, caplog)
    assert error.cause == "tls"
    assert "certificate" in str(error)


def test_a_hostname_mismatch_fails_at_once(
    tls_server: RedisServer, tls_files: TLSFiles, roundtrip: Roundtrip, caplog: pytest.LogCaptureFixture
) -> None:
    # The server certificate names 127.0.0.1 only; "localhost" reaches the same server.
    error = _refused(
        roundtrip, _url(tls_server, tls_query(tls_files, cert=tls_files), host="localhost"), caplog
    )
    assert error.cause == "tls"
    assert "Hostname mismatch" in str(error)


def test_no_client_certificate_fails_at_once_under_mutual_tls(
    tls_server: RedisServer, tls_files: TLSFiles, roundtrip: Roundtrip, caplog: pytest.LogCaptureFixture
) -> None:
    error = _refused(roundtrip, _url(tls_server, tls_query(tls_files)), caplog)
    assert error.cause == "tls"


def test_a_client_certificate_from_another_ca_fails_at_once(
    tls_server: RedisServer,
    tls_files: TLSFiles,
    stranger_tls: TLSFiles,
    roundtrip: Roundtrip,
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = _refused(roundtrip, _url(tls_server, tls_query(tls_files, cert=stranger_tls)), caplog)
    assert error.cause == "tls"


# -- passwords and ACLs -----------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["wrong-password", None])
def test_a_wrong_or_missing_password_fails_at_once(
    password_server: RedisServer, roundtrip: Roundtrip, caplog: pytest.LogCaptureFixture, password: str | None
) -> None:
    userinfo = f":{password}@" if password else ""
    error = _refused(roundtrip, f"redis://{userinfo}127.0.0.1:{password_server.port}/0", caplog)
    assert error.cause == "auth"
    assert PASSWORD not in str(error)


@pytest.fixture
def acl_user(password_server: RedisServer) -> Iterator[Callable[..., str]]:
    """``acl_user(*rules)``: a fresh ACL user with these rules; returns its name (password: PASSWORD)."""
    made: list[str] = []
    admin = password_server.node.admin

    def make(*rules: str) -> str:
        name = f"limited{len(made)}"
        command(admin, "ACL", "SETUSER", name, "reset", "on", f">{PASSWORD}", *rules)
        made.append(name)
        return name

    yield make
    for name in made:
        command(admin, "ACL", "DELUSER", name)


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param(("~hasession:*", "+ping"), id="no-command"),  # EVALSHA/EVAL refused
        pytest.param(("~elsewhere:*", "+@all"), id="no-key"),  # the keys are out of the pattern
        pytest.param(("~hasession:*", "+@all", "-hgetall", "-evalsha", "-eval"), id="no-script"),
    ],
)
def test_an_acl_noperm_fails_at_once(
    password_server: RedisServer,
    roundtrip: Roundtrip,
    caplog: pytest.LogCaptureFixture,
    acl_user: Callable[..., str],
    rules: tuple[str, ...],
) -> None:
    user = acl_user(*rules)
    error = _refused(roundtrip, f"redis://{user}:{PASSWORD}@127.0.0.1:{password_server.port}/0", caplog)
    assert error.cause == "acl"
    assert "NOPERM" in str(error)


# -- Sentinel ---------------------------------------------------------------------------------------


def test_the_guarded_sentinel_works_with_both_passwords(
    guarded_sentinel: SentinelTopology, roundtrip: Roundtrip
) -> None:
    assert roundtrip(guarded_sentinel.url).retries == 0


def test_an_unknown_master_name_fails_at_once(
    guarded_sentinel: SentinelTopology, roundtrip: Roundtrip, caplog: pytest.LogCaptureFixture
) -> None:
    url = guarded_sentinel.url.replace("/mymaster/", "/nosuchmaster/")
    error = _refused(roundtrip, url, caplog)
    assert error.cause == "master_name"
    assert "nosuchmaster" in str(error)


def test_a_wrong_sentinel_password_fails_at_once(
    guarded_sentinel: SentinelTopology, roundtrip: Roundtrip, caplog: pytest.LogCaptureFixture
) -> None:
    url = guarded_sentinel.url.replace(SENTINEL_PASSWORD, "not-the-sentinel-password")
    error = _refused(roundtrip, url, caplog)
    assert error.cause == "auth"
    assert SENTINEL_PASSWORD not in str(error)


def test_a_wrong_data_node_password_behind_sentinel_fails_at_once(
    guarded_sentinel: SentinelTopology, roundtrip: Roundtrip, caplog: pytest.LogCaptureFixture
) -> None:
    error = _refused(roundtrip, guarded_sentinel.url.replace(PASSWORD, "not-the-data-password"), caplog)
    assert error.cause == "auth"
