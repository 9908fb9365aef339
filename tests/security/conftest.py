"""Real servers for the security tests: TLS with test-made certificates, passwords, ACL users."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import hasession
from hasession.testing import RedisServer, SentinelTopology, TLSFiles

SECRET = "security-tests-secret-0123456789"
PASSWORD = "data-node-password-3b1f"
SENTINEL_PASSWORD = "sentinel-password-91ac"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """Mutual TLS: the servers require a client certificate; the server certificate names 127.0.0.1 only."""
    return TLSFiles.generate(tmp_path_factory.mktemp("tls"), client_auth="yes", hosts=("127.0.0.1",))


@pytest.fixture(scope="session")
def stranger_tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """Another CA and its certificates: nobody here trusts them."""
    return TLSFiles.generate(tmp_path_factory.mktemp("stranger"), client_auth="yes")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[RedisServer]:
    """A standalone server with mutual TLS and a password."""
    with RedisServer(tls=tls_files, password=PASSWORD, tmpdir=tmp_path_factory.mktemp("srv")) as server:
        yield server


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A standalone server with a password, in plain text (the TLS cases have their own server)."""
    with RedisServer(password=PASSWORD, tmpdir=tmp_path_factory.mktemp("pw")) as server:
        yield server


@pytest.fixture(scope="session")
def guarded_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelTopology]:
    """Sentinels with their own password (:data:`SENTINEL_PASSWORD`), data nodes with another
    (:data:`PASSWORD`)."""
    with SentinelTopology(
        replicas=1,
        sentinels=2,
        password=PASSWORD,
        sentinel_password=SENTINEL_PASSWORD,
        tmpdir=tmp_path_factory.mktemp("sentinel"),
    ) as topology:
        yield topology


def tls_query(files: TLSFiles, *, ca: Path | None = None, cert: TLSFiles | None = None) -> str:
    """URL options: trust ``ca`` (default: the files' CA), present ``cert``'s client certificate if given."""
    query = f"ssl_ca_certs={ca or files.ca_cert}"
    if cert is not None:
        query += f"&ssl_certfile={cert.client_cert}&ssl_keyfile={cert.client_key}"
    return query


@pytest.fixture(params=["sync", "async"])
def roundtrip(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``roundtrip(url, **options)``: create, save and load a session with a sync or async store;
    returns the store's stats after it closed (or raises what the store raised)."""

    def sync(url: str, **options: Any) -> hasession.Stats:
        options.setdefault("secret_keys", SECRET)
        with hasession.SessionStore.from_url(url, **options) as store:
            try:
                session = store.load(None)
                session["n"] = 1
                assert store.load(store.save(session).value)["n"] == 1
            finally:
                stats = store.stats
        return stats

    async def run_async(url: str, **options: Any) -> hasession.Stats:
        options.setdefault("secret_keys", SECRET)
        async with hasession.AsyncSessionStore.from_url(url, **options) as store:
            try:
                session = await store.load(None)
                session["n"] = 1
                assert (await store.load((await store.save(session)).value))["n"] == 1
            finally:
                stats = store.stats
        return stats

    if request.param == "sync":
        return sync
    return lambda url, **options: asyncio.run(run_async(url, **options))
