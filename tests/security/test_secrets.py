"""Secrets never appear: signing and encryption keys, passwords, cookie values and raw session ids are
planted, then every repr, log record (DEBUG and up), exception (with its chained causes) and CLI output
that a day of use produces is captured and searched for them."""

from __future__ import annotations

import logging
import subprocess
import sys
import traceback
from typing import Any

import pytest

import hasession
from hasession._session import state_of
from hasession.testing import SentinelTopology

from .conftest import PASSWORD as DATA_PASSWORD
from .conftest import SENTINEL_PASSWORD

SIGNING_KEY = "planted-signing-key-a1b2c3d4e5f6"
ENCRYPTION_KEY = "planted-encryption-key-0f9e8d7c6b"
WRONG_PASSWORD = "planted-wrong-password-9c0d"
PLANTED = [SIGNING_KEY, ENCRYPTION_KEY, DATA_PASSWORD, SENTINEL_PASSWORD, WRONG_PASSWORD]


class Capture:
    """Everything a user or an operator could see."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *values: object) -> None:
        for value in values:
            self.texts += [repr(value), str(value)]

    def error(self, exc: BaseException) -> None:
        self.texts.append("".join(traceback.format_exception(exc)))  # the message and every cause
        for attempt in getattr(exc, "attempts", ()):
            self.add(attempt, attempt.error)

    def leaks(self, secrets: list[str]) -> list[str]:
        return [s for s in secrets if any(s in text for text in self.texts)]


def _fail(capture: Capture, call: Any) -> None:
    with pytest.raises(hasession.SessionError) as caught:
        call()
    capture.error(caught.value)


def test_nothing_shows_a_secret(guarded_sentinel: SentinelTopology, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, hasession's and redis-py's
    capture = Capture()
    url = guarded_sentinel.url  # carries both passwords
    assert DATA_PASSWORD in url and SENTINEL_PASSWORD in url
    options: dict[str, Any] = {"secret_keys": SIGNING_KEY, "encryption_keys": [ENCRYPTION_KEY]}
    cookies: list[str] = []
    with hasession.SessionStore.from_url(url, **options) as store:
        capture.add(store, store.config, store.config.topology, store.config.topology.options, store.stats)
        session = store.load(None)
        session["card"] = "4111 1111 1111 1111"
        session.user_id = "ada"
        cookies.append(str(store.save(session).value))
        session = store.load(cookies[-1])
        state = state_of(session)
        capture.add(session, state, state.sid, state.stored)
        session.cycle_id()
        cookies.append(str(store.save(session).value))
        cookies.append(cookies[-1][:-2] + ("AA" if not cookies[-1].endswith("AA") else "QQ"))  # tampered
        capture.add(store.load(cookies[-1]), store.sessions_of("ada"))
        capture.add(*[state_of(store.load(cookie)).sid for cookie in cookies[:2]])
        guarded_sentinel.wait_for_replicas_synced()
        capture.add(store.switchover())
        session = store.load(cookies[1])
        session.destroy()
        capture.add(store.save(session), store.load(cookies[1]))
    raw_ids = [cookie.partition(".")[0] for cookie in cookies]

    wrong_data = url.replace(DATA_PASSWORD, WRONG_PASSWORD)
    wrong_sentinel = url.replace(SENTINEL_PASSWORD, WRONG_PASSWORD)
    for bad in (wrong_data, wrong_sentinel):
        with hasession.SessionStore.from_url(bad, **options) as store:
            capture.add(store)
            _fail(capture, lambda store=store: store.save(_touched(store)))
    down = f"redis://:{WRONG_PASSWORD}@127.0.0.1:1/0"  # nothing listens: held, then StoreUnavailable
    retry = hasession.RetryPolicy(hold_budget=0.2)
    with hasession.SessionStore.from_url(down, retry=retry, **options) as store:
        _fail(capture, lambda: store.save(_touched(store)))
    _fail(capture, lambda: hasession.parse_url(f"redis://:{WRONG_PASSWORD}@host:notaport/0"))
    _fail(capture, lambda: hasession.parse_url(f"redis://u:{WRONG_PASSWORD}@h/0?nosuch=1"))
    capture.add(hasession.Secret(SIGNING_KEY), hasession.parse_url(url))

    capture.texts += [record.getMessage() for record in caplog.records]
    capture.texts += [str(record.args) for record in caplog.records]
    assert len(caplog.records) > 5  # the DEBUG/INFO/ERROR records were there to search
    assert capture.leaks(PLANTED + cookies + raw_ids) == []


def _touched(store: hasession.SessionStore) -> hasession.Session:
    session = store.load(None)
    session["x"] = 1
    return session


def test_the_cli_shows_no_secret(guarded_sentinel: SentinelTopology) -> None:
    url = guarded_sentinel.url
    outputs = [
        _cli("drill", url, "--users", "2", "--seconds", "0.5", "--fault", "none"),
        _cli("switchover", url),
        _cli("drill", url.replace(DATA_PASSWORD, WRONG_PASSWORD), "--users", "1", "--seconds", "0.2"),
        _cli("switchover", url.replace(SENTINEL_PASSWORD, WRONG_PASSWORD)),
        _cli("drill", url.replace("redis+sentinel", "rediss+nonsense")),
    ]
    assert outputs[0].returncode == 0 and outputs[1].returncode == 0, outputs[:2]
    assert all(done.returncode != 0 for done in outputs[2:]), outputs[2:]
    shown = "".join(done.stdout + done.stderr for done in outputs)
    assert [s for s in PLANTED if s in shown] == []


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hasession", *args], capture_output=True, text=True, timeout=120, check=False
    )
