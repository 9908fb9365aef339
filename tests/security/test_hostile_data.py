"""Hostile data in Redis: a session hash written or damaged by someone else.

Whatever is at the key, a load gives the stored session (minus a bad value), or a fresh one; an
error is logged; nothing raises out of the store, no adapter answers 500, and no session ever shows
another session's data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

import hasession

from .conftest import SECRET
from .test_hostile_cookies import asgi_get

ENCRYPTION_KEY = "e" * 32
FUTURE_MS = str(2**41)  # year 2039


@pytest.fixture
def url(hasession_redis_url: str) -> str:
    """The session-wide server of hasession's pytest plugin, flushed for this test."""
    return hasession_redis_url


@pytest.fixture
def admin(url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(url) as client:
        yield client


@pytest.fixture(params=["plain", "encrypted"])
def store(request: pytest.FixtureRequest, url: str) -> Iterator[hasession.SessionStore]:
    keys = [ENCRYPTION_KEY] if request.param == "encrypted" else []
    with hasession.SessionStore.from_url(url, secret_keys=SECRET, encryption_keys=keys) as store:
        yield store


def stored(store: hasession.SessionStore, admin: redis.Redis, **data: Any) -> tuple[str, bytes]:
    """A real session of user ``ada`` holding ``data``: its cookie and its Redis key."""
    before = set(admin.keys("hs:{*"))
    session = store.load(None)
    session.update(data)
    session.user_id = "ada"
    cookie = str(store.save(session).value)
    (key,) = set(admin.keys("hs:{*")) - before
    return cookie, key


Damage = Callable[[redis.Redis, bytes], object]

DAMAGES: dict[str, Damage] = {
    "version-not-a-number": lambda r, k: r.hset(k, "@v", "abc"),
    "created-negative": lambda r, k: r.hset(k, "@c", "-5"),
    "touched-float": lambda r, k: r.hset(k, "@t", "1.5e3"),
    "expiry-not-a-number": lambda r, k: r.hset(k, "@x", "soon"),
    "metadata-missing": lambda r, k: r.hdel(k, "@v", "@c", "@t"),
    "expiry-missing": lambda r, k: r.hdel(k, "@x"),
    "value-not-json": lambda r, k: r.hset(k, ".cart", "{not json"),
    "value-binary": lambda r, k: r.hset(k, ".cart", b"\xff\x00\xfe"),
    "value-huge": lambda r, k: r.hset(k, ".blob", "x" * 2_000_000),
    "many-values": lambda r, k: r.hset(k, mapping={f".k{i}": '"' + "y" * 1000 + '"' for i in range(100)}),
    "field-name-not-utf8": lambda r, k: r.hset(k, b"\xff\xfe", "1"),
    "foreign-fields": lambda r, k: r.hset(k, mapping={"id": "someone-else", "@": "", "@zz": "1"}),
    "user-not-a-string": lambda r, k: r.hset(k, "@u", "123"),
    "user-not-json": lambda r, k: r.hset(k, "@u", "{{{"),
    "tombstone-with-expiry": lambda r, k: r.hset(k, "@d", "1"),
    "a-string": lambda r, k: (r.delete(k), r.set(k, "hello")),
    "a-list": lambda r, k: (r.delete(k), r.rpush(k, "a", "b")),
    "a-set-without-ttl": lambda r, k: (r.delete(k), r.sadd(k, "a")),
}
#: Damages after which nothing of the original session may be kept: the load must give a fresh one.
FRESH = {
    "version-not-a-number",
    "created-negative",
    "touched-float",
    "expiry-not-a-number",
    "expiry-missing",
    "value-huge",
    "many-values",
    "a-string",
    "a-list",
    "a-set-without-ttl",
    "metadata-missing",
    "tombstone-with-expiry",
}


#: Damages that are not errors, so need no log: an expiry that says "gone" is an expired session, a
#: tombstone a logged-out one, and fields hasession does not use are ignored.
QUIET = {"foreign-fields", "expiry-not-a-number", "expiry-missing", "tombstone-with-expiry"}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_session_loads_safely(
    store: hasession.SessionStore, admin: redis.Redis, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    caplog.set_level(logging.INFO, logger="hasession")
    cookie, key = stored(store, admin, cart=["book"], name="ada")
    DAMAGES[damage](admin, key)

    session = store.load(cookie)  # never raises
    original = {"cart": ["book"], "name": "ada"}
    assert all(original.get(k) == v for k, v in session.items())  # nothing but what was stored
    if damage in FRESH:
        assert session.new and dict(session) == {}
    assert session.user_id in (None, "ada")

    session["after"] = damage  # and the request goes on: a save works
    result = store.save(session)
    assert store.load(result.value)["after"] == damage
    if session.new:
        assert result.value != cookie  # a fresh id: the damaged key is never adopted
    if damage not in QUIET:
        assert any(r.levelno >= logging.ERROR and "hasession" in r.getMessage() for r in caplog.records)


def test_values_copied_from_another_session_do_not_decrypt(admin: redis.Redis, url: str) -> None:
    """With encryption, each value is bound to its session and field: a copy is dropped, not adopted."""
    with hasession.SessionStore.from_url(url, secret_keys=SECRET, encryption_keys=[ENCRYPTION_KEY]) as s:
        mine, my_key = stored(s, admin, cart=["mine"])
        theirs, their_key = stored(s, admin, cart=["theirs"], card="4111111111111111")
        admin.hset(their_key, "@u", s.load(theirs).user_id or "")  # a plain value where a sealed one goes
        for field in (b".cart", b".card"):
            admin.hset(my_key, field, admin.hget(their_key, field) or b"")
        session = s.load(mine)
    assert "theirs" not in repr(dict(session)) and "4111" not in repr(dict(session))
    assert not session.new  # the session itself is kept, minus what did not authenticate


def test_sessions_of_skips_index_entries_someone_else_wrote(
    store: hasession.SessionStore, admin: redis.Redis
) -> None:
    cookie, key = stored(store, admin)
    (index,) = admin.keys("hs:u:*")
    admin.zadd(index, {b"\xff\xfe": 2**41, "garbage": 2**41, "a.b": 2**41})
    admin.hset(key.replace(b"}:", b"}:x"), mapping={"@c": "x", "@t": "1", "@x": FUTURE_MS})
    assert [info.public_id for info in store.sessions_of("ada")] == [store.public_id(store.load(cookie))]


def test_an_adapter_answers_a_damaged_session_without_a_500(url: str, admin: redis.Redis) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from hasession.starlette import init_app, session_from

    async def home(request: Request) -> Response:
        session = await session_from(request)
        session["seen"] = True
        return Response(f"{session.new} {sorted(session)}")

    with hasession.SessionStore.from_url(url, secret_keys=SECRET) as sync_store:
        cookie, key = stored(sync_store, admin, cart=["book"])
    loop = asyncio.new_event_loop()
    store = hasession.AsyncSessionStore.from_url(url, secret_keys=SECRET)
    app = Starlette(routes=[Route("/", home)])
    init_app(app, store=store)
    try:
        for damage in ("version-not-a-number", "a-list", "value-not-json"):
            admin.delete(key)
            with hasession.SessionStore.from_url(url, secret_keys=SECRET) as sync_store:
                cookie, key = stored(sync_store, admin, cart=["book"])
            DAMAGES[damage](admin, key)
            status, body = loop.run_until_complete(asgi_get(app, b"session=" + cookie.encode()))
            assert status == 200, (damage, body)
    finally:
        loop.run_until_complete(store.close())
        loop.close()
