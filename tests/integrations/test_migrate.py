"""Migration from each peer library: the peer itself writes its sessions in real Redis, hasession reads
them (hasession.migrate), and the adapters move a user over on their first request, once."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import subprocess
import sys
import textwrap
from typing import Any

import httpx
import pytest
import redis

from hasession import AsyncSessionStore, CookieOptions, SessionStore, UnsafeSessionFormat
from hasession.migrate import (
    AiohttpSessionReader,
    FlaskSessionReader,
    Migration,
    StarsessionsReader,
)

SECRET = "migration-tests-secret-0123456789"
COOKIE = CookieOptions(name="hs")


@pytest.fixture
def old_redis(hasession_redis_url: str) -> Any:
    client = redis.Redis.from_url(hasession_redis_url)
    yield client
    client.close()


def set_cookies(headers: list[str]) -> dict[str, str]:
    """name -> value of each Set-Cookie header."""
    return {h.split("=", 1)[0]: h.split("=", 1)[1].split(";", 1)[0] for h in headers}


# -- Flask-Session ------------------------------------------------------------------------------


def flask_session_login(client: redis.Redis, **data: Any) -> str:
    """Flask-Session (SESSION_TYPE=redis, its defaults) stores a session; returns its cookie."""
    flask = pytest.importorskip("flask")
    flask_session = pytest.importorskip("flask_session")
    app = flask.Flask("old_app")
    app.config.update(SESSION_TYPE="redis", SESSION_REDIS=client, SECRET_KEY="old-secret")
    flask_session.Session(app)

    @app.post("/login")
    def login() -> str:
        flask.session.update(data)
        return "ok"

    test_client = app.test_client()
    assert test_client.post("/login").status_code == 200
    cookie = test_client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def hasession_flask_app(hasession_redis_url: str, migration: Migration) -> Any:
    from flask import Flask, jsonify

    from hasession.flask import init_app, session_from

    app = Flask("new_app")
    store = SessionStore.from_url(hasession_redis_url, secret_keys=SECRET)
    init_app(app, store=store, cookie=COOKIE, migrate_from=migration)

    @app.get("/me")
    def me() -> Any:
        session = session_from(__import__("flask").request)
        return jsonify(user=session.get("user"), cart=session.get("cart"), uid=session.user_id)

    return app


def flask_get(app: Any, **cookies: str) -> Any:
    """GET /me from a fresh browser holding exactly ``cookies``."""
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value)
    return client.get("/me")


def test_flask_session_is_read(old_redis: redis.Redis) -> None:
    cookie = flask_session_login(old_redis, user="alice", cart=[1, 2])
    data = FlaskSessionReader(client=old_redis).read(cookie)
    assert data is not None
    assert (data["user"], data["cart"]) == ("alice", [1, 2])
    assert old_redis.exists(f"session:{cookie}")  # read-only


def test_flask_users_move_over_once_and_the_old_session_is_deleted(
    hasession_redis_url: str, old_redis: redis.Redis
) -> None:
    old = flask_session_login(old_redis, user="alice", cart=[1, 2])
    migration = Migration(
        reader=FlaskSessionReader(client=old_redis), delete_old=True, user_id=lambda d: d["user"]
    )
    app = hasession_flask_app(hasession_redis_url, migration)
    first = flask_get(app, session=old)
    assert first.json == {"user": "alice", "cart": [1, 2], "uid": "alice"}
    cookies = set_cookies(first.headers.getlist("Set-Cookie"))
    assert cookies["session"] == ""  # the old cookie is expired
    assert not old_redis.exists(f"session:{old}")  # and its session deleted, after the new one was saved
    again = flask_get(app, hs=cookies["hs"])
    assert again.json["user"] == "alice"
    assert again.headers.getlist("Set-Cookie") == []
    with SessionStore.from_url(hasession_redis_url, secret_keys=SECRET) as store:
        assert [s.public_id for s in store.sessions_of("alice")] == [
            store.public_id(store.load(cookies["hs"]))
        ]
    replay = flask_get(app, session=old)  # the old cookie alone: nothing to adopt
    assert replay.json["user"] is None


def test_a_shared_cookie_name_is_replaced_not_expired(
    hasession_redis_url: str, old_redis: redis.Redis
) -> None:
    """hasession's default cookie name is Flask-Session's: the old value is not a valid hasession
    cookie, so it is migrated, and the new cookie overwrites it (expiring it would drop the new one)."""
    from flask import Flask, jsonify, request

    from hasession.flask import init_app, session_from

    old = flask_session_login(old_redis, user="erin")
    app = Flask("same_name")
    store = SessionStore.from_url(hasession_redis_url, secret_keys=SECRET)
    init_app(app, store=store, migrate_from=Migration(reader=FlaskSessionReader(client=old_redis)))
    app.add_url_rule("/me", "me", lambda: jsonify(user=session_from(request).get("user")))
    first = flask_get(app, session=old)
    assert first.json == {"user": "erin"}
    (header,) = first.headers.getlist("Set-Cookie")
    new = set_cookies([header])["session"]
    assert new != old and new != ""
    assert flask_get(app, session=new).json == {"user": "erin"}


def test_the_old_session_is_kept_when_configured(hasession_redis_url: str, old_redis: redis.Redis) -> None:
    old = flask_session_login(old_redis, user="bob")
    app = hasession_flask_app(hasession_redis_url, Migration(reader=FlaskSessionReader(client=old_redis)))
    assert flask_get(app, session=old).json["user"] == "bob"
    assert old_redis.exists(f"session:{old}")


def test_a_pickled_session_is_refused_and_the_request_goes_on(
    hasession_redis_url: str, old_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    old_redis.set("session:legacy", pickle.dumps({"user": "mallory"}))  # Flask-Session < 0.7 pickled
    with pytest.raises(UnsafeSessionFormat):
        FlaskSessionReader(client=old_redis).read("legacy")
    app = hasession_flask_app(hasession_redis_url, Migration(reader=FlaskSessionReader(client=old_redis)))
    with caplog.at_level(logging.ERROR, logger="hasession"):
        response = flask_get(app, session="legacy")
    assert response.status_code == 200
    assert response.json["user"] is None
    assert "UnsafeSessionFormat" in caplog.text


# -- starsessions --------------------------------------------------------------------------------


def test_starsessions_users_move_over(hasession_redis_url: str, old_redis: redis.Redis) -> None:
    starsessions = pytest.importorskip("starsessions")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starsessions.stores.redis import RedisStore

    from hasession.starlette import SessionMiddleware, session_from

    async def write() -> None:
        connection = redis.asyncio.Redis.from_url(hasession_redis_url)
        payload = starsessions.JsonSerializer().serialize({"user": "carol", "__metadata__": {"created": 1}})
        await RedisStore(connection=connection).write("star-id", payload, lifetime=3600, ttl=3600)
        await connection.aclose()

    asyncio.run(write())
    assert StarsessionsReader(client=old_redis).read("star-id") == {"user": "carol"}

    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"user": (await session_from(request)).get("user")})

    async def browse() -> tuple[httpx.Response, httpx.Response]:
        store = AsyncSessionStore.from_url(hasession_redis_url, secret_keys=SECRET)
        app = Starlette(routes=[Route("/me", me)])
        migration = Migration(reader=StarsessionsReader(client=old_redis), delete_old=True)
        app.add_middleware(SessionMiddleware, store=store, cookie=COOKIE, migrate_from=migration)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            first = await client.get("/me", headers={"Cookie": "session=star-id"})
            hs = set_cookies(first.headers.get_list("set-cookie"))["hs"]
            again = await client.get("/me", headers={"Cookie": f"hs={hs}"})
        await store.close()
        return first, again

    first, again = asyncio.run(browse())
    cookies = set_cookies(first.headers.get_list("set-cookie"))
    assert first.json() == {"user": "carol"}
    assert cookies["session"] == ""
    assert again.json() == {"user": "carol"}
    assert not old_redis.exists("starsessions.star-id")


# -- aiohttp-session -------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")  # aiohttp-session's own keys
@pytest.mark.filterwarnings("ignore::hasession.InsecureCookieWarning")  # aiohttp's test server is plain http
def test_aiohttp_session_users_move_over(hasession_redis_url: str, old_redis: redis.Redis) -> None:
    aiohttp_session = pytest.importorskip("aiohttp_session")
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from aiohttp_session.redis_storage import RedisStorage

    from hasession.aiohttp import get_session, init_app

    async def old_login() -> str:
        connection = redis.asyncio.Redis.from_url(hasession_redis_url)
        app = web.Application()
        aiohttp_session.setup(app, RedisStorage(connection))

        async def login(request: web.Request) -> web.Response:
            session = await aiohttp_session.get_session(request)
            session["user"] = "dave"
            return web.Response(text="ok")

        app.router.add_post("/login", login)
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/login")
            cookie = response.cookies["AIOHTTP_SESSION"].value
        await connection.aclose()
        return cookie

    async def new_app(old: str) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
        store = AsyncSessionStore.from_url(hasession_redis_url, secret_keys=SECRET)
        app = web.Application()
        migration = Migration(reader=AiohttpSessionReader(client=old_redis))
        init_app(app, store=store, cookie=COOKIE, migrate_from=migration)

        async def me(request: web.Request) -> web.Response:
            return web.json_response({"user": (await get_session(request)).get("user")})

        app.router.add_get("/me", me)
        async with TestClient(TestServer(app)) as client:
            first = await client.get("/me", headers={"Cookie": f"AIOHTTP_SESSION={old}"})
            cookies = set_cookies(first.headers.getall("Set-Cookie"))
            again = await client.get("/me", headers={"Cookie": f"hs={cookies['hs']}"})
            result = await first.json(), cookies, await again.json()
        await store.close()
        return result

    old = asyncio.run(old_login())
    assert AiohttpSessionReader(client=old_redis).read(old) == {"user": "dave"}
    first, cookies, again = asyncio.run(new_app(old))
    assert first == {"user": "dave"}
    assert cookies["AIOHTTP_SESSION"] == ""
    assert again == {"user": "dave"}
    assert old_redis.exists(f"AIOHTTP_SESSION_{old}")  # kept: delete_old is off by default


# -- Django (in a subprocess: Django's settings are process-wide) ------------------------------------

DJANGO_SCRIPT = """
import json, sys
import django
from django.conf import settings
settings.configure(
    SECRET_KEY="django-secret-for-tests-0123456789",
    INSTALLED_APPS=["django.contrib.sessions"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": sys.argv[1]}},
    HASESSION={"URL": sys.argv[1]},
)
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
import redis
from django.contrib.sessions.backends import cache, db
from hasession import UnsafeSessionFormat
from hasession.migrate import DjangoCacheReader, DjangoDatabaseReader

found = {}
stored = db.SessionStore()
stored.update({"_auth_user_id": "42", "cart": [1, 2]})
stored.save()
reader = DjangoDatabaseReader()
found["db"] = reader.read(stored.session_key)
found["db_forged"] = reader.read("x" * 32)
cached = cache.SessionStore()
cached["cart"] = [3]
cached.save()
try:
    DjangoCacheReader(client=redis.Redis.from_url(sys.argv[1])).read(cached.session_key)
    found["cache"] = "read"
except UnsafeSessionFormat as exc:
    found["cache"] = str(exc)
reader.delete(stored.session_key)
found["db_after_delete"] = reader.read(stored.session_key)

# SESSION_ENGINE = "hasession.django" with MIGRATE_FROM: the old key is adopted on first use, once
from hasession.django import SessionStore as HASessionStore
from hasession.migrate import Migration
old = db.SessionStore()
old.update({"_auth_user_id": "7", "theme": "dark"})
old.save()
settings.HASESSION = {
    "URL": sys.argv[1],
    "MIGRATE_FROM": Migration(
        reader=DjangoDatabaseReader(), delete_old=True, user_id=lambda d: d.get("_auth_user_id")
    ),
}
adopting = HASessionStore(session_key=old.session_key)
found["adopted"] = dict(adopting.items())
found["adopted_modified"] = adopting.modified
adopting.save()
found["new_key_differs"] = adopting.session_key != old.session_key
found["old_after_save"] = reader.read(old.session_key)
found["reloaded"] = dict(HASessionStore(session_key=adopting.session_key).items())
found["user_id"] = HASessionStore(session_key=adopting.session_key).user_id
print(json.dumps(found))
"""


def test_django_database_sessions_are_read_and_adopted_and_cache_pickles_refused(
    hasession_redis_url: str,
) -> None:
    pytest.importorskip("django")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DJANGO_SCRIPT), hasession_redis_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["db"] == {"_auth_user_id": "42", "cart": [1, 2]}
    assert found["db_forged"] is None
    assert "pickle" in found["cache"]
    assert found["db_after_delete"] is None
    assert found["adopted"] == {"_auth_user_id": "7", "theme": "dark"}
    assert found["adopted_modified"] is True
    assert found["new_key_differs"] is True
    assert found["old_after_save"] is None  # delete_old, once the new session was saved
    assert found["reloaded"] == {"_auth_user_id": "7", "theme": "dark"}
    assert found["user_id"] == "7"
