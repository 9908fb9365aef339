"""hasession.migrate's format checks, without Redis: pickles are recognised by their opcodes and refused."""

from __future__ import annotations

import json
import pickle
from typing import Any

import msgspec
import pytest

from hasession import UndecodableSession, UnsafeSessionFormat
from hasession.migrate import (
    AiohttpSessionReader,
    DjangoCacheReader,
    FlaskSessionReader,
    Migration,
    StarsessionsReader,
    looks_like_pickle,
)

DATA = {"user": "alice", "cart": [1, 2], "n": None}


class FakeRedis:
    """Only GET and DELETE of bytes: enough for the readers, whose Redis behaviour is tested for real in
    tests/integrations/test_migrate.py."""

    def __init__(self, values: dict[str, bytes]) -> None:
        self.values = values

    def get(self, key: str) -> bytes | None:
        return self.values.get(key)

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol_is_recognised(protocol: int) -> None:
    assert looks_like_pickle(pickle.dumps(DATA, protocol=protocol))
    assert looks_like_pickle(pickle.dumps([1, "x"], protocol=protocol))


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(DATA).encode(),
        b"[]",
        b"{}",
        b'"text."',
        msgspec.msgpack.encode(DATA),
        msgspec.msgpack.encode({}),
        b"12.",
    ],
)
def test_json_and_msgpack_are_not_pickles(raw: bytes) -> None:
    assert not looks_like_pickle(raw)


def reader_for(kind: str, values: dict[str, bytes]) -> Any:
    client = FakeRedis(values)
    return {
        "flask": FlaskSessionReader(client=client),
        "starsessions": StarsessionsReader(client=client),
        "aiohttp": AiohttpSessionReader(client=client),
        "django-cache": DjangoCacheReader(client=client),
    }[kind]


KEYS = {
    "flask": "session:abc",
    "starsessions": "starsessions.abc",
    "aiohttp": "AIOHTTP_SESSION_abc",
    "django-cache": ":1:django.contrib.sessions.cacheabc",
}


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_a_pickled_session_is_refused_with_the_reason(kind: str) -> None:
    reader = reader_for(kind, {KEYS[kind]: pickle.dumps(DATA)})
    with pytest.raises(UnsafeSessionFormat, match="never unpickles"):
        reader.read("abc")


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_garbage_is_undecodable(kind: str) -> None:
    with pytest.raises(UndecodableSession):
        reader_for(kind, {KEYS[kind]: b"\xff\xfe not a session"}).read("abc")


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_a_missing_session_is_none(kind: str) -> None:
    assert reader_for(kind, {}).read("abc") is None


def test_formats_of_each_reader() -> None:
    assert reader_for("flask", {"session:abc": msgspec.msgpack.encode(DATA)}).read("abc") == DATA
    assert reader_for("flask", {"session:abc": json.dumps(DATA).encode()}).read("abc") == DATA
    stored = json.dumps({**DATA, "__metadata__": {"created": 1}}).encode()
    assert reader_for("starsessions", {"starsessions.abc": stored}).read("abc") == DATA
    wrapped = json.dumps({"created": 1, "session": DATA}).encode()
    assert reader_for("aiohttp", {"AIOHTTP_SESSION_abc": wrapped}).read("abc") == DATA


def test_a_signed_flask_session_cookie_is_unsigned() -> None:
    from itsdangerous import Signer

    signed = Signer("flask-secret", salt="flask-session", key_derivation="hmac").sign(b"abc").decode()
    reader = FlaskSessionReader(
        client=FakeRedis({"session:abc": msgspec.msgpack.encode(DATA)}), signer_key="flask-secret"
    )
    assert reader.read(signed) == DATA
    assert reader.read("abc.forged") is None


def test_the_old_cookie_is_expired_unless_hasession_reuses_its_name() -> None:
    migration = Migration(reader=StarsessionsReader(client=FakeRedis({})), old_cookie_domain="example.com")
    header = migration.expire_old_cookie("hs")
    assert header is not None
    assert header.startswith("session=; Path=/; Domain=example.com")
    assert "Max-Age=0" in header
    assert migration.expire_old_cookie("session") is None
