"""parse_url / format_url: every scheme, option and error path, and no password ever shown."""

from __future__ import annotations

import doctest
import traceback
from dataclasses import replace
from typing import Any

import pytest

from hasession import _url
from hasession._config import Secret
from hasession._exceptions import ConfigurationError
from hasession._topology import Address, Cluster, ConnectionOptions, Sentinel, Standalone, Topology
from hasession._url import format_url, parse_url

TLS = ConnectionOptions(tls=True)
APP = ConnectionOptions(username="app", password=Secret("s3cret"))
LOCAL = Address("localhost", 6379)
S1 = Address("s1", 26379)

VALID: list[tuple[str, Topology]] = [
    # standalone: defaults, ports, db, TLS, IPv6
    ("redis://localhost", Standalone(address=LOCAL)),
    ("REDIS://localhost/", Standalone(address=LOCAL)),
    ("redis://cache:6380/2", Standalone(address=Address("cache", 6380), options=ConnectionOptions(db=2))),
    ("redis://cache?db=3", Standalone(address=Address("cache", 6379), options=ConnectionOptions(db=3))),
    ("redis://cache/0", Standalone(address=Address("cache", 6379))),
    ("rediss://cache", Standalone(address=Address("cache", 6379), options=TLS)),
    ("redis://10.0.0.1:7000", Standalone(address=Address("10.0.0.1", 7000))),
    ("redis://[::1]:6380", Standalone(address=Address("::1", 6380))),
    ("redis://[::1]", Standalone(address=Address("::1", 6379))),
    ("redis://[fe80::1%eth0]:1", Standalone(address=Address("fe80::1%eth0", 1))),
    # credentials and percent-decoding
    ("redis://app@h", Standalone(address=Address("h", 6379), options=ConnectionOptions(username="app"))),
    ("redis://app:s3cret@h", Standalone(address=Address("h", 6379), options=APP)),
    ("redis://:s3cret@h", Standalone(address=Address("h", 6379), options=replace(APP, username=None))),
    (
        "redis://app:s3c@ret@h",
        Standalone(address=Address("h", 6379), options=replace(APP, password=Secret("s3c@ret"))),
    ),
    (
        "redis://us%3Aer:p%40ss%2Fw%3Ard%25+x@h",
        Standalone(
            address=Address("h", 6379),
            options=ConnectionOptions(username="us:er", password=Secret("p@ss/w:rd%+x")),
        ),
    ),
    ("redis://:@h", Standalone(address=Address("h", 6379))),
    # unix sockets
    ("unix:///tmp/redis.sock", Standalone(unix_path="/tmp/redis.sock")),
    (
        "unix://app:s3cret@/tmp/my%20redis%3F.sock?db=4",
        Standalone(unix_path="/tmp/my redis?.sock", options=replace(APP, db=4)),
    ),
    # sentinel
    (
        "redis+sentinel://s1:26379,s2:26380,s3/mymaster",
        Sentinel(sentinels=(S1, Address("s2", 26380), Address("s3", 26379)), master_name="mymaster"),
    ),
    (
        "redis+sentinel://app:s3cret@[::1],[::2]:1/my%2Fmaster/2",
        Sentinel(
            sentinels=(Address("::1", 26379), Address("::2", 1)),
            master_name="my/master",
            options=replace(APP, db=2),
        ),
    ),
    (
        "redis+sentinel://s1/m?db=5",
        Sentinel(sentinels=(S1,), master_name="m", options=ConnectionOptions(db=5)),
    ),
    ("rediss+sentinel://s1/m", Sentinel(sentinels=(S1,), master_name="m", options=TLS, sentinel_options=TLS)),
    ("rediss+sentinel://s1/m?sentinel_tls=false", Sentinel(sentinels=(S1,), master_name="m", options=TLS)),
    (
        "redis+sentinel://s1/m?sentinel_tls=true",
        Sentinel(sentinels=(S1,), master_name="m", sentinel_options=TLS),
    ),
    (
        "redis+sentinel://s1/m?sentinel_username=admin&sentinel_password=sp&socket_timeout=0.5",
        Sentinel(
            sentinels=(S1,),
            master_name="m",
            options=ConnectionOptions(socket_timeout=0.5),
            sentinel_options=ConnectionOptions(username="admin", password=Secret("sp"), socket_timeout=0.5),
        ),
    ),
    # cluster
    ("redis+cluster://h1:7000,h2:7001", Cluster(seeds=(Address("h1", 7000), Address("h2", 7001)))),
    ("redis+cluster://h1", Cluster(seeds=(Address("h1", 6379),))),
    ("redis+cluster://h1?db=0", Cluster(seeds=(Address("h1", 6379),))),
    (
        "rediss+cluster://app:s3cret@h1:7000/0",
        Cluster(seeds=(Address("h1", 7000),), options=replace(APP, tls=True)),
    ),
]

#: (query, ConnectionOptions field, value) for every option that is not sentinel_*.
OPTIONS: list[tuple[str, str, Any]] = [
    ("socket_timeout=0.5", "socket_timeout", 0.5),
    ("socket_timeout=3", "socket_timeout", 3.0),
    ("connect_timeout=0.1", "connect_timeout", 0.1),
    ("client_name=web%20app", "client_name", "web app"),
    ("max_connections=10", "max_connections", 10),
    ("ssl_ca_certs=/etc/ssl/ca.pem", "ssl_ca_certs", "/etc/ssl/ca.pem"),
    ("ssl_certfile=/etc/ssl/c%2Bd.pem", "ssl_certfile", "/etc/ssl/c+d.pem"),
    ("ssl_keyfile=/etc/ssl/k+1.pem", "ssl_keyfile", "/etc/ssl/k+1.pem"),
    ("ssl_cert_reqs=none", "ssl_cert_reqs", "none"),
    ("ssl_cert_reqs=optional", "ssl_cert_reqs", "optional"),
    ("ssl_cert_reqs=required", "ssl_cert_reqs", "required"),
    ("db=7", "db", 7),
]

ERRORS: list[tuple[str, str]] = [
    # scheme
    ("http://h", "scheme 'http' is not"),
    ("rediss+unix://h", "scheme 'rediss+unix' is not"),
    ("localhost:6379", "scheme missing"),
    ("redis:/h", "scheme missing"),
    # hosts and ports
    ("redis://", "missing or invalid host ''"),
    ("redis:///0", "missing or invalid host ''"),
    ("redis://:6379", "missing or invalid host ''"),
    ("redis://h1,h2", "redis:// takes one host"),
    ("redis://::1", "IPv6 goes in brackets"),
    ("redis://[::1", "missing or invalid host '['"),
    ("redis://[]:1", "missing or invalid host"),
    ("redis://[not-ipv6]", "IPv6 address"),
    ("redis://h:abc", "the port of 'h' is not an integer in 1-65535"),
    ("redis://h:", "the port of 'h'"),
    ("redis://h:0", "the port of 'h'"),
    ("redis://h:65536", "the port of 'h'"),
    ("redis://h:+1", "the port of 'h'"),
    ("redis://h:\uff11", "the port of 'h'"),  # a full-width digit
    ("redis+sentinel://s1,,s2/m", "missing or invalid host ''"),
    ("redis+sentinel://s1:26379x/m", "the port of 's1'"),
    ("redis+sentinel:///m", "missing or invalid host ''"),
    ("redis+cluster://", "missing or invalid host ''"),
    # paths and databases
    ("redis://h/x", "db: expected an integer >= 0, got 'x'"),
    ("redis://h/-1", "db: expected an integer >= 0"),
    ("redis://h/1/2", "at most 1 expected"),
    ("redis://h/1?db=2", "the database is given twice"),
    ("unix://", "unix:///path/to/redis.sock"),
    ("unix:///", "unix:///path/to/redis.sock"),
    ("unix://host/tmp/redis.sock", "without a host"),
    ("redis+sentinel://s1", "the master name is missing"),
    ("redis+sentinel://s1/", "the master name is missing"),
    ("redis+sentinel://s1/m/x", "db: expected an integer"),
    ("redis+sentinel://s1/m/1/2", "at most 2 expected"),
    ("redis+cluster://h/1", "Redis Cluster has only database 0"),
    ("redis+cluster://h?db=2", "Redis Cluster has only database 0"),
    ("redis+cluster://h/0/1", "at most 1 expected"),
    # query options
    ("redis://h?foo=1", "unknown option 'foo'; valid options: db, socket_timeout,"),
    ("redis://h?socket_timeout=1&socket_timeout=1", "option 'socket_timeout' is repeated"),
    ("redis://h?client_name=", "option 'client_name' is empty"),
    ("redis://h?client_name", "option 'client_name' is empty"),
    ("redis://h?db=x", "db: expected an integer >= 0, got 'x'"),
    ("redis://h?db=-1", "db: expected an integer >= 0"),
    ("redis://h?socket_timeout=0", "socket_timeout: expected a number of seconds > 0, got '0'"),
    ("redis://h?socket_timeout=-1", "socket_timeout: expected a number of seconds > 0"),
    ("redis://h?socket_timeout=abc", "socket_timeout: expected a number of seconds > 0"),
    ("redis://h?socket_timeout=nan", "socket_timeout: expected a number of seconds > 0"),
    ("redis://h?socket_timeout=inf", "socket_timeout: expected a number of seconds > 0"),
    ("redis://h?connect_timeout=0", "connect_timeout: expected a number of seconds > 0"),
    ("redis://h?max_connections=0", "max_connections: expected an integer >= 1"),
    ("redis://h?max_connections=1.5", "max_connections: expected an integer >= 1"),
    ("redis://h?ssl_cert_reqs=maybe", "ssl_cert_reqs: expected one of required/optional/none"),
    ("redis+sentinel://s/m?sentinel_tls=maybe", "sentinel_tls: expected one of true/yes/1/false/no/0"),
    ("redis://h?sentinel_password=x", "option 'sentinel_password' is for redis+sentinel:// only"),
    ("redis+cluster://h?sentinel_username=x", "option 'sentinel_username' is for redis+sentinel:// only"),
    ("unix:///s?sentinel_tls=true", "option 'sentinel_tls' is for redis+sentinel:// only"),
    # an unencoded "/" or "?" in a password moves the "@" after the host
    ("redis://u:pa/ss@h", "'@' may appear only before the host"),
    ("redis://u:pa?ss@h", "'@' may appear only before the host"),
    ("unix://:pa/ss@/tmp/s", "'@' may appear only before the host"),
    ("redis://h?client_name=a@b", "'@' may appear only before the host"),
]

#: Invalid URLs that carry the password "hunter2", in one piece or cut by a stray "/" or "?".
LEAKY = [
    "redis://u:hunter2@h:bad",
    "redis://u:hunter2@h:99999",
    "redis://u:hunter2@h/x",
    "redis://u:hunter2@h/1?db=2",
    "redis://u:hunter2@h?foo=1",
    "redis://u:hunter2@h?socket_timeout=0",
    "redis://u:hunter2@h1,h2",
    "redis://u:hunter2@[::1",
    "redis://u:hunter2@[zz]",
    "ftp://u:hunter2@h",
    "u:hunter2@h",
    "redis://u:hunter2",
    "redis://:hunter2",
    "redis+sentinel://u:hunter2@h",
    "redis+cluster://u:hunter2@h/1",
    "unix://u:hunter2@host/tmp/s",
    "redis://u:hunt/er2@h",
    "redis://u:hunt?er2@h",
    "redis://u:hunt?x=er2@h",
    "redis://h?sentinel_password=hunter2",
    "redis+sentinel://h/m?sentinel_password=hunter2&sentinel_password=hunter2",
    "redis+sentinel://h/m?sentinel_password=hunter2&bogus=1",
]

#: (URL, its canonical redacted form)
FORMATTED = [
    ("redis://localhost", "redis://localhost:6379"),
    ("redis://h?db=3", "redis://h:6379/3"),
    (
        "rediss://app:s3cret@[::1]:6380/1?socket_timeout=0.5",
        "rediss://app:***@[::1]:6380/1?socket_timeout=0.5",
    ),
    ("redis://:s3cret@h", "redis://:***@h:6379"),
    ("redis://us%3Aer@h", "redis://us%3Aer@h:6379"),
    ("redis://h?max_connections=5&socket_timeout=2", "redis://h:6379?socket_timeout=2.0&max_connections=5"),
    (
        "redis://h?ssl_cert_reqs=none&ssl_ca_certs=/etc/ca%2B.pem&client_name=web%201",
        "redis://h:6379?client_name=web%201&ssl_ca_certs=/etc/ca%2B.pem&ssl_cert_reqs=none",
    ),
    ("unix://:s3cret@/tmp/my%20redis.sock?db=4", "unix://:***@/tmp/my%20redis.sock?db=4"),
    (
        "redis+sentinel://app:pw@s1,s2:26380/my%2Fmaster/2?sentinel_username=admin&sentinel_password=spw",
        "redis+sentinel://app:***@s1:26379,s2:26380/my%2Fmaster/2?sentinel_username=admin&sentinel_password=***",
    ),
    ("rediss+sentinel://s1/m?sentinel_tls=no", "rediss+sentinel://s1:26379/m?sentinel_tls=false"),
    ("rediss+sentinel://s1/m?sentinel_tls=yes", "rediss+sentinel://s1:26379/m"),
    ("redis+sentinel://s1/m?sentinel_tls=1", "redis+sentinel://s1:26379/m?sentinel_tls=true"),
    ("redis+cluster://h1,h2:7001/0", "redis+cluster://h1:6379,h2:7001"),
    ("rediss+cluster://app:s3cret@h1", "rediss+cluster://app:***@h1:6379"),
]


def has_password(topology: Topology) -> bool:
    sentinel_password = topology.sentinel_options.password if isinstance(topology, Sentinel) else None
    return topology.options.password is not None or sentinel_password is not None


@pytest.mark.parametrize(("url", "expected"), VALID, ids=[url for url, _ in VALID])
def test_parse(url: str, expected: Topology) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize(("query", "field", "value"), OPTIONS, ids=[q for q, _, _ in OPTIONS])
def test_option_sets_its_field(query: str, field: str, value: Any) -> None:
    expected = replace(ConnectionOptions(), **{field: value})
    assert parse_url(f"redis://h?{query}").options == expected
    if field != "db":  # Cluster has only db 0, tested with the errors
        assert parse_url(f"redis+cluster://h?{query}").options == expected


@pytest.mark.parametrize(("query", "field", "value"), OPTIONS, ids=[q for q, _, _ in OPTIONS])
def test_sentinel_url_applies_options_to_sentinels_except_db(query: str, field: str, value: Any) -> None:
    topology = parse_url(f"redis+sentinel://s/m?{query}")
    assert isinstance(topology, Sentinel)
    assert topology.options == replace(ConnectionOptions(), **{field: value})
    assert topology.sentinel_options == (ConnectionOptions() if field == "db" else topology.options)


def test_sentinels_do_not_get_the_data_credentials() -> None:
    topology = parse_url("rediss+sentinel://app:s3cret@s/m/3")
    assert isinstance(topology, Sentinel)
    assert topology.options == ConnectionOptions(username="app", password=Secret("s3cret"), db=3, tls=True)
    assert topology.sentinel_options == ConnectionOptions(tls=True)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("0", False),
    ],
)
def test_sentinel_tls_values(text: str, value: bool) -> None:
    topology = parse_url(f"redis+sentinel://s/m?sentinel_tls={text}")
    assert isinstance(topology, Sentinel)
    assert topology.sentinel_options.tls is value
    assert topology.options.tls is False


def test_every_table_option_is_tested() -> None:
    tested = {query.partition("=")[0] for query, _, _ in OPTIONS}
    assert tested | {"sentinel_username", "sentinel_password", "sentinel_tls"} == set(_url._OPTIONS)


@pytest.mark.parametrize(("url", "message"), ERRORS, ids=[url for url, _ in ERRORS])
def test_invalid_url(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^invalid Redis URL: ") as excinfo:
        parse_url(url)
    assert message in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


def test_unknown_option_lists_every_valid_one() -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        parse_url("redis://h?sokcet_timeout=1")
    assert all(name in str(excinfo.value) for name in _url._OPTIONS)


@pytest.mark.parametrize("url", LEAKY)
def test_errors_never_show_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        parse_url(url)
    shown = "".join(traceback.format_exception(excinfo.value)) + repr(excinfo.value)
    assert not any(piece in shown for piece in ("hunter2", "hunt", "er2"))


@pytest.mark.parametrize(("url", "expected"), FORMATTED, ids=[url for url, _ in FORMATTED])
def test_format_is_canonical_and_redacted(url: str, expected: str) -> None:
    topology = parse_url(url)
    assert format_url(topology) == expected
    assert str(topology) == expected


@pytest.mark.parametrize(
    "url",
    [
        "redis://app:s3cret@h",
        "unix://:s3cret@/tmp/s",
        "redis+sentinel://app:s3cret@s/m?sentinel_password=s3cret",
        "rediss+cluster://:s3cret@h",
    ],
)
def test_str_and_repr_hide_passwords(url: str) -> None:
    topology = parse_url(url)
    assert "s3cret" not in str(topology)
    assert "s3cret" not in repr(topology)
    assert "Secret('**********')" in repr(topology)
    assert "***" in str(topology)
    assert f"{topology}" == str(topology)


ROUND_TRIP = [url for url, topology in VALID if not has_password(topology)] + [
    f"{scheme}?{query}" for scheme in ("redis://h", "redis+sentinel://s/m") for query, _, _ in OPTIONS
]


@pytest.mark.parametrize("url", ROUND_TRIP)
def test_round_trip(url: str) -> None:
    topology = parse_url(url)
    assert parse_url(format_url(topology)) == topology


def test_hand_built_topologies_format() -> None:
    assert str(Standalone(address=Address("h", 1))) == "redis://h:1"
    assert str(Cluster(seeds=(Address("::1", 7000),))) == "redis+cluster://[::1]:7000"
    sentinel = Sentinel(
        sentinels=(S1,), master_name="m", sentinel_options=ConnectionOptions(password=Secret("x"))
    )
    assert str(sentinel) == "redis+sentinel://s1:26379/m?sentinel_password=***"


def test_docstring_examples() -> None:
    results = doctest.testmod(_url)
    assert results.attempted >= 2
    assert results.failed == 0
