"""hasession against the peer Python session libraries: same Redis, same run, same requests.

    .venv/bin/pip install -r bench/requirements-peers.txt     # once: the peers are not project dependencies
    .venv/bin/python bench/peers.py [--quick] [--requests N] [--app-requests N] [--rounds R]
                                    [--concurrency C] [--no-apps]

Every library keeps the same session (10 keys, about 1 KB of JSON) in one real ``redis-server``
started by ``hasession.testing.RedisServer``, and is driven twice:

- at the store level: the library's session backend called the way its own middleware calls it
  at the start and the end of a request, with no HTTP in between;
- through a minimal app of its framework, with the framework's test client.

It prints (1) the Redis round trips and commands of one request, counted by the server (``INFO``
deltas after ``CONFIG RESETSTAT``), for a new session, a read-only request, a request that changes
one key and a request that never touches the session; (2) requests per second and p50/p99 latency
for read-only and one-key-changed requests, each peer as a ratio to hasession; (3) how many of 50
keys survive 50 overlapping requests that each set their own key (lost updates); (4) where the time
of a read-only request goes, hasession's steps next to a plain GET.

A peer that is not installed or cannot be driven is skipped, and the output says why. Not a test:
it asserts nothing; it prints. bench/README.md explains how to read the output.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType, SimpleNamespace
from typing import Any, Generic, TypeVar

import redis
import redis.asyncio

import hasession
from hasession.testing import RedisServer

SECRET = "bench-secret-key-0123456789abcdef"
LIFETIME = 14 * 24 * 3600  # every library keeps sessions two weeks (their defaults differ)
#: A realistic session: 10 keys, about 1 KB as JSON.
SESSION: dict[str, Any] = {
    "user_id": "8f14e45f-ceea-467f-a0e6-1b3c2e8a9d55",
    "csrf_token": "d2f1c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e",
    "cart": [{"sku": f"SKU-{i:05d}", "qty": i + 1, "price": round(9.99 * (i + 1), 2)} for i in range(5)],
    "prefs": {"theme": "dark", "lang": "en-GB", "tz": "Europe/London", "currency": "GBP", "beta": True},
    "flash": ["Your changes were saved.", "Welcome back!"],
    "recently_viewed": [f"product-{n}" for n in range(1000, 1012)],
    "roles": ["customer", "newsletter", "beta-tester"],
    "ab_tests": {"checkout": "B", "search": "A", "banner": "control", "pricing": "v2"},
    "auth_time": 1718000000,
    "counter": 0,
}
SCENARIOS = ("new", "read", "write", "untouched")
TITLES = {"new": "new session", "read": "read-only", "write": "one key changed", "untouched": "untouched"}
TIMED = ("read", "write")
#: What hasession's client sends itself; anything else the server counts ran inside its scripts.
SCRIPT_LEVEL = {"evalsha", "eval", "wait", "script|load"}
LOST_UPDATE_REQUESTS = 50

Finish = Callable[[Mapping[str, Any]], None]
AsyncFinish = Callable[[Mapping[str, Any]], Awaitable[None]]
T = TypeVar("T")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def package(name: str) -> str:
    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return f"{name} (not installed)"


# -- the subjects: one library, at one level ----------------------------------------------------


class SyncSubject(ABC):
    """A library driven synchronously. ``new`` returns the cookie value of a new session holding SESSION."""

    label: str
    #: hasession's own round-trip counter (``store.stats.round_trips``); None for the peers.
    counter: Callable[[], int] | None = None

    @abstractmethod
    def new(self) -> str: ...

    @abstractmethod
    def read(self, cookie: str) -> None: ...

    @abstractmethod
    def write(self, cookie: str, value: int) -> None: ...

    @abstractmethod
    def untouched(self, cookie: str) -> None: ...

    def round_trips(self) -> int | None:
        return None if self.counter is None else self.counter()

    def close(self) -> None:
        return None


class AsyncSubject(ABC):
    """A library driven on the event loop; same operations as :class:`SyncSubject`."""

    label: str
    counter: Callable[[], int] | None = None

    @abstractmethod
    async def new(self) -> str: ...

    @abstractmethod
    async def read(self, cookie: str) -> None: ...

    @abstractmethod
    async def write(self, cookie: str, value: int) -> None: ...

    @abstractmethod
    async def untouched(self, cookie: str) -> None: ...

    def round_trips(self) -> int | None:
        return None if self.counter is None else self.counter()

    async def close(self) -> None:
        return None


class SyncBackend(SyncSubject):
    """Store level: ``begin`` is the start of a request that reads the session (so it loads), and
    the function it returns ends that request after applying ``changes``, as the middleware would."""

    @abstractmethod
    def begin(self, cookie: str) -> Finish: ...

    @abstractmethod
    def stored_keys(self, cookie: str) -> set[str]: ...

    def read(self, cookie: str) -> None:
        self.begin(cookie)({})

    def write(self, cookie: str, value: int) -> None:
        self.begin(cookie)({"counter": value})


class AsyncBackend(AsyncSubject):
    """:class:`SyncBackend` on the event loop."""

    @abstractmethod
    async def begin(self, cookie: str) -> AsyncFinish: ...

    @abstractmethod
    async def stored_keys(self, cookie: str) -> set[str]: ...

    async def read(self, cookie: str) -> None:
        await (await self.begin(cookie))({})

    async def write(self, cookie: str, value: int) -> None:
        await (await self.begin(cookie))({"counter": value})


def cookie_from(set_cookie_headers: Sequence[str], name: str) -> str | None:
    """The value a response's ``Set-Cookie`` headers give cookie ``name`` (None when unset or deleted)."""
    for header in set_cookie_headers:
        key, _, rest = header.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0].strip('"') or None
    return None


class SyncApp(SyncSubject):
    """App level: a minimal app serves GET /new, /read, /write?v=N and /untouched (GET only, to keep
    request bodies out of it); ``get`` sends one through the framework's test client and returns the
    cookie value the response set, if any."""

    @abstractmethod
    def get(self, path: str, cookie: str | None) -> str | None: ...

    def new(self) -> str:
        cookie = self.get("/new", None)
        if cookie is None:
            raise RuntimeError(f"{self.label}: /new set no session cookie")
        return cookie

    def read(self, cookie: str) -> None:
        self.get("/read", cookie)

    def write(self, cookie: str, value: int) -> None:
        self.get(f"/write?v={value}", cookie)

    def untouched(self, cookie: str) -> None:
        self.get("/untouched", cookie)


class AsyncApp(AsyncSubject):
    """:class:`SyncApp` on the event loop."""

    @abstractmethod
    async def get(self, path: str, cookie: str | None) -> str | None: ...

    async def new(self) -> str:
        cookie = await self.get("/new", None)
        if cookie is None:
            raise RuntimeError(f"{self.label}: /new set no session cookie")
        return cookie

    async def read(self, cookie: str) -> None:
        await self.get("/read", cookie)

    async def write(self, cookie: str, value: int) -> None:
        await self.get(f"/write?v={value}", cookie)

    async def untouched(self, cookie: str) -> None:
        await self.get("/untouched", cookie)


def check(status: int, label: str, path: str) -> None:
    if status != 200:
        raise RuntimeError(f"{label}: GET {path} answered {status}")


# -- store level: hasession ---------------------------------------------------------------------


class HasessionBackend(SyncBackend):
    def __init__(self, url: str) -> None:
        self.label = "hasession SessionStore"
        self.store = hasession.SessionStore.from_url(url, secret_keys=SECRET)
        self.counter = lambda: self.store.stats.round_trips

    def new(self) -> str:
        session = self.store.open(None)
        session.update(SESSION)
        return str(self.store.save(session).value)

    def begin(self, cookie: str) -> Finish:
        session = self.store.open(cookie)
        session.get("user_id")  # the sync session loads itself on first access

        def finish(changes: Mapping[str, Any]) -> None:
            session.update(changes)
            self.store.save(session)  # writes only what changed: nothing, or one field

        return finish

    def untouched(self, cookie: str) -> None:
        session = self.store.open(cookie)
        if session.loaded:  # what every hasession adapter does: only a loaded session is saved
            self.store.save(session)

    def stored_keys(self, cookie: str) -> set[str]:
        return set(self.store.load(cookie))

    def close(self) -> None:
        self.store.close()


class HasessionAsyncBackend(AsyncBackend):
    def __init__(self, url: str) -> None:
        self.label = "hasession AsyncSessionStore"
        self.store = hasession.AsyncSessionStore.from_url(url, secret_keys=SECRET)
        self.counter = lambda: self.store.stats.round_trips

    async def new(self) -> str:
        session = self.store.open(None)
        session.update(SESSION)
        return str((await self.store.save(session)).value)

    async def begin(self, cookie: str) -> AsyncFinish:
        session = await self.store.load(cookie)
        session.get("user_id")

        async def finish(changes: Mapping[str, Any]) -> None:
            session.update(changes)
            await self.store.save(session)

        return finish

    async def untouched(self, cookie: str) -> None:
        session = self.store.open(cookie)  # never loaded: an async session loads only when asked to
        if session.loaded:
            await self.store.save(session)

    async def stored_keys(self, cookie: str) -> set[str]:
        return set(await self.store.load(cookie))

    async def close(self) -> None:
        await self.store.close()


# -- store level: the peers ---------------------------------------------------------------------


class DjangoBackend(SyncBackend):
    """A Django session engine (``SESSION_ENGINE``), ended as ``SessionMiddleware.process_response``
    ends a request: saved when modified and not empty (``SESSION_SAVE_EVERY_REQUEST`` is off)."""

    def __init__(self, label: str, engine: str, counter: Callable[[], int] | None = None) -> None:
        self.label, self.counter = label, counter
        self.session_class: Any = import_module(engine).SessionStore

    @staticmethod
    def _end(session: Any) -> None:
        if session.modified and not session.is_empty():
            session.save()

    def new(self) -> str:
        session = self.session_class(None)
        session.update(SESSION)
        self._end(session)
        return str(session.session_key)

    def begin(self, cookie: str) -> Finish:
        session = self.session_class(cookie)
        session.get("user_id")

        def finish(changes: Mapping[str, Any]) -> None:
            if changes:  # update() marks the session modified, even with nothing in it
                session.update(changes)
            self._end(session)

        return finish

    def untouched(self, cookie: str) -> None:
        self._end(self.session_class(cookie))

    def stored_keys(self, cookie: str) -> set[str]:
        return set(self.session_class(cookie).keys())


class FlaskSessionBackend(SyncBackend):
    """Flask-Session's ``RedisSessionInterface``: ``open_session`` then ``save_session``."""

    def __init__(self, url: str) -> None:
        from flask import Flask, Response
        from flask_session.redis import RedisSessionInterface

        self.label = "Flask-Session RedisSessionInterface"
        self.app = Flask("peers_flask_session_store")
        self.app.permanent_session_lifetime = LIFETIME
        self.interface = RedisSessionInterface(self.app, client=redis.Redis.from_url(url))
        self.response_class = Response
        self.cookie_name = self.app.config["SESSION_COOKIE_NAME"]

    def _open(self, cookie: str | None) -> Any:
        request = SimpleNamespace(cookies={self.cookie_name: cookie} if cookie else {})  # all it reads
        return self.interface.open_session(self.app, request)

    def _end(self, session: Any) -> None:
        self.interface.save_session(self.app, session, self.response_class())

    def new(self) -> str:
        session = self._open(None)
        session.update(SESSION)
        self._end(session)
        return str(session.sid)

    def begin(self, cookie: str) -> Finish:
        session = self._open(cookie)
        session.get("user_id")

        def finish(changes: Mapping[str, Any]) -> None:
            if changes:  # update() marks the session modified, even with nothing in it
                session.update(changes)
            self._end(session)

        return finish

    def untouched(self, cookie: str) -> None:
        self._end(self._open(cookie))  # open_session always loads

    def stored_keys(self, cookie: str) -> set[str]:
        return set(self._open(cookie).keys())


class BeakerBackend(SyncBackend):
    """Beaker's lazy ``SessionObject`` with the ``ext:redis`` backend, ended as Beaker's
    ``SessionMiddleware`` ends a request (``persist()`` when the session was accessed)."""

    def __init__(self, url: str) -> None:
        from beaker.session import SessionObject

        self.label = "Beaker ext:redis"
        self.session_object = SessionObject
        # The options beaker.middleware.SessionMiddleware passes by default, plus the backend.
        self.options: dict[str, Any] = beaker_options(url)

    def _open(self, cookie: str | None) -> Any:
        environ = {"HTTP_COOKIE": f"{self.options['key']}={cookie}"} if cookie else {}
        return self.session_object(environ, **self.options)

    @staticmethod
    def _end(session: Any) -> None:
        if session.accessed():
            session.persist()

    def new(self) -> str:
        session = self._open(None)
        session.update(SESSION)
        session.save()
        self._end(session)
        return str(session.id)

    def begin(self, cookie: str) -> Finish:
        session = self._open(cookie)
        session.get("user_id")

        def finish(changes: Mapping[str, Any]) -> None:
            if changes:
                session.update(changes)
                session.save()  # Beaker's way of saying "modified"
            self._end(session)

        return finish

    def untouched(self, cookie: str) -> None:
        self._end(self._open(cookie))

    def stored_keys(self, cookie: str) -> set[str]:
        return set(self._open(cookie).keys())


def beaker_options(url: str) -> dict[str, Any]:
    return {
        "invalidate_corrupt": True,
        "type": "ext:redis",
        "url": url,
        "key": "beaker.session.id",
        "timeout": LIFETIME,
        "save_accessed_time": True,
    }


class StarsessionsBackend(AsyncBackend):
    """starsessions' ``RedisStore`` and ``JsonSerializer``, called as its ``SessionMiddleware`` calls them:
    the data plus ``__metadata__`` are read when the handler loads the session, and written back on every
    response of a loaded, non-empty session."""

    def __init__(self, url: str) -> None:
        from starsessions import JsonSerializer, generate_session_id
        from starsessions.stores.redis import RedisStore

        self.label = "starsessions RedisStore"
        self.redis = redis.asyncio.Redis.from_url(url)
        self.store = RedisStore(connection=self.redis)
        self.serializer = JsonSerializer()
        self.generate_id = generate_session_id

    async def _save(self, session_id: str, data: dict[str, Any], metadata: dict[str, Any]) -> None:
        remaining = int(metadata["created"] + metadata["lifetime"] - time.time())
        payload = self.serializer.serialize({**data, "__metadata__": metadata})
        await self.store.write(session_id, payload, lifetime=LIFETIME, ttl=remaining)

    async def _load(self, cookie: str) -> tuple[dict[str, Any], dict[str, Any]]:
        data = self.serializer.deserialize(await self.store.read(cookie, lifetime=LIFETIME))
        now = time.time()
        metadata: dict[str, Any] = {"lifetime": LIFETIME, "created": now, "last_access": now}
        metadata.update(data.pop("__metadata__", {}))
        metadata["last_access"] = now
        return data, metadata

    async def new(self) -> str:
        session_id, now = self.generate_id(), time.time()
        await self._save(
            session_id, dict(SESSION), {"lifetime": LIFETIME, "created": now, "last_access": now}
        )
        return session_id

    async def begin(self, cookie: str) -> AsyncFinish:
        data, metadata = await self._load(cookie)
        data.get("user_id")

        async def finish(changes: Mapping[str, Any]) -> None:
            data.update(changes)
            await self._save(cookie, data, metadata)

        return finish

    async def untouched(self, cookie: str) -> None:
        return None  # not loaded (no load_session, no SessionAutoloadMiddleware): nothing to save

    async def stored_keys(self, cookie: str) -> set[str]:
        return set((await self._load(cookie))[0])

    async def close(self) -> None:
        await self.redis.aclose()


class AiohttpSessionBackend(AsyncBackend):
    """aiohttp-session's ``RedisStorage``: ``load_session`` when the handler calls ``get_session``,
    ``save_session`` after it when the session changed (what ``session_middleware`` does)."""

    def __init__(self, url: str) -> None:
        from aiohttp import web
        from aiohttp_session.redis_storage import RedisStorage

        self.label = "aiohttp-session RedisStorage"
        self.redis = redis.asyncio.Redis.from_url(url)
        self.storage = RedisStorage(self.redis, max_age=LIFETIME)
        self.response_class = web.Response

    def _request(self, cookie: str | None) -> Any:
        return SimpleNamespace(cookies={self.storage.cookie_name: cookie} if cookie else {})  # all it reads

    async def new(self) -> str:
        session = await self.storage.new_session()
        session.update(SESSION)
        response = self.response_class()
        await self.storage.save_session(self._request(None), response, session)
        return response.cookies[self.storage.cookie_name].value

    async def begin(self, cookie: str) -> AsyncFinish:
        request = self._request(cookie)
        session = await self.storage.load_session(request)
        session.get("user_id")

        async def finish(changes: Mapping[str, Any]) -> None:
            if changes:  # a Session is "changed" by __setitem__/__delitem__ only
                session.update(changes)
                await self.storage.save_session(request, self.response_class(), session)

        return finish

    async def untouched(self, cookie: str) -> None:
        return None  # get_session never called: nothing loaded, nothing saved

    async def stored_keys(self, cookie: str) -> set[str]:
        return set(await self.storage.load_session(self._request(cookie)))

    async def close(self) -> None:
        await self.redis.aclose()


# -- app level ----------------------------------------------------------------------------------

GetSession = Callable[[Any], Awaitable[MutableMapping[str, Any]]]


def starlette_app(middleware: Sequence[Any], get_session: GetSession) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def new(request: Request) -> PlainTextResponse:
        (await get_session(request)).update(SESSION)
        return PlainTextResponse("ok")

    async def read(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str((await get_session(request)).get("user_id")))

    async def write(request: Request) -> PlainTextResponse:
        (await get_session(request))["counter"] = int(request.query_params["v"])
        return PlainTextResponse("ok")

    async def untouched(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = [
        Route("/new", new),
        Route("/read", read),
        Route("/write", write),
        Route("/untouched", untouched),
    ]
    return Starlette(routes=routes, middleware=list(middleware))


class AsgiApp(AsyncApp):
    def __init__(
        self, label: str, app: Any, cookie_name: str, closing: Callable[[], Awaitable[None]]
    ) -> None:
        import httpx

        self.label, self.cookie_name, self._closing = label, cookie_name, closing
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    async def get(self, path: str, cookie: str | None) -> str | None:
        request = self.client.build_request("GET", path)
        request.headers.pop("cookie", None)  # never the client's cookie jar: only the cookie we hold
        if cookie:
            request.headers["cookie"] = f"{self.cookie_name}={cookie}"
        response = await self.client.send(request)
        check(response.status_code, self.label, path)
        return cookie_from(response.headers.get_list("set-cookie"), self.cookie_name)

    async def close(self) -> None:
        await self.client.aclose()
        await self._closing()


def hasession_starlette(url: str) -> AsgiApp:
    from starlette.middleware import Middleware

    from hasession.starlette import SessionMiddleware, session_from

    store = hasession.AsyncSessionStore.from_url(url, secret_keys=SECRET)
    app = starlette_app([Middleware(SessionMiddleware, store=store)], session_from)
    subject = AsgiApp("hasession.starlette", app, "session", store.close)
    subject.counter = lambda: store.stats.round_trips
    return subject


def starsessions_starlette(url: str) -> AsgiApp:
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starsessions import SessionMiddleware, load_session
    from starsessions.stores.redis import RedisStore

    connection = redis.asyncio.Redis.from_url(url)

    async def get_session(request: Request) -> MutableMapping[str, Any]:
        await load_session(request)
        return request.session

    middleware = [Middleware(SessionMiddleware, store=RedisStore(connection=connection), lifetime=LIFETIME)]
    return AsgiApp("starsessions", starlette_app(middleware, get_session), "session", connection.aclose)


def aiohttp_app(install: Callable[[Any], None], get_session: GetSession) -> Any:
    from aiohttp import web

    async def new(request: web.Request) -> web.Response:
        (await get_session(request)).update(SESSION)
        return web.Response(text="ok")

    async def read(request: web.Request) -> web.Response:
        return web.Response(text=str((await get_session(request)).get("user_id")))

    async def write(request: web.Request) -> web.Response:
        (await get_session(request))["counter"] = int(request.query["v"])
        return web.Response(text="ok")

    async def untouched(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    install(app)
    app.router.add_get("/new", new)
    app.router.add_get("/read", read)
    app.router.add_get("/write", write)
    app.router.add_get("/untouched", untouched)
    return app


class AiohttpApp(AsyncApp):
    """An aiohttp app on a loopback ``TestServer``, driven by an ``aiohttp.ClientSession`` without a
    cookie jar (``TestClient`` keeps every response until it closes: a growing heap, slower GCs)."""

    def __init__(
        self, label: str, app: Any, cookie_name: str, closing: Callable[[], Awaitable[None]]
    ) -> None:
        from aiohttp.test_utils import TestServer

        self.label, self.cookie_name, self._closing = label, cookie_name, closing
        self.server = TestServer(app)
        self.client: Any = None

    async def start(self) -> AiohttpApp:
        from aiohttp import ClientSession, DummyCookieJar

        await self.server.start_server()
        self.client = ClientSession(cookie_jar=DummyCookieJar())
        return self

    async def get(self, path: str, cookie: str | None) -> str | None:
        headers = {"Cookie": f"{self.cookie_name}={cookie}"} if cookie else {}
        async with self.client.get(self.server.make_url(path), headers=headers) as response:
            await response.read()
            check(response.status, self.label, path)
            return cookie_from(response.headers.getall("Set-Cookie", []), self.cookie_name)

    async def close(self) -> None:
        await self.client.close()
        await self.server.close()
        await self._closing()


async def hasession_aiohttp(url: str) -> AiohttpApp:
    import hasession.aiohttp

    store = hasession.AsyncSessionStore.from_url(url, secret_keys=SECRET)
    app = aiohttp_app(lambda app: hasession.aiohttp.setup(app, store), hasession.aiohttp.get_session)
    subject = AiohttpApp("hasession.aiohttp", app, "session", store.close)
    subject.counter = lambda: store.stats.round_trips
    return await subject.start()


async def aiohttp_session_app(url: str) -> AiohttpApp:
    import aiohttp_session
    from aiohttp_session.redis_storage import RedisStorage

    connection = redis.asyncio.Redis.from_url(url)
    storage = RedisStorage(connection, max_age=LIFETIME)
    app = aiohttp_app(lambda app: aiohttp_session.setup(app, storage), aiohttp_session.get_session)
    return await AiohttpApp("aiohttp-session", app, storage.cookie_name, connection.aclose).start()


def flask_app(name: str, get_session: Callable[[], Any], changed: Callable[[Any], None]) -> Any:
    from flask import Flask, request

    app = Flask(name)
    app.permanent_session_lifetime = LIFETIME

    @app.get("/new")
    def new() -> str:
        session = get_session()
        session.update(SESSION)
        changed(session)
        return "ok"

    @app.get("/read")
    def read() -> str:
        return str(get_session().get("user_id"))

    @app.get("/write")
    def write() -> str:
        session = get_session()
        session["counter"] = int(request.args["v"])
        changed(session)
        return "ok"

    @app.get("/untouched")
    def untouched() -> str:
        return "ok"

    return app


class WsgiApp(SyncApp):
    def __init__(self, label: str, app: Any, cookie_name: str, closing: Callable[[], None]) -> None:
        self.label, self.cookie_name, self._closing = label, cookie_name, closing
        self.client = app.test_client(use_cookies=False)

    def get(self, path: str, cookie: str | None) -> str | None:
        headers = {"Cookie": f"{self.cookie_name}={cookie}"} if cookie else {}
        response = self.client.get(path, headers=headers)
        check(response.status_code, self.label, path)
        return cookie_from(response.headers.getlist("Set-Cookie"), self.cookie_name)

    def close(self) -> None:
        self._closing()


def _nothing(session: Any) -> None:
    return None


def hasession_flask(url: str) -> WsgiApp:
    from flask import session

    import hasession.flask

    store = hasession.SessionStore.from_url(url, secret_keys=SECRET)
    app = flask_app("peers_hasession_flask", lambda: session, _nothing)
    hasession.flask.init_app(app, store=store)
    subject = WsgiApp("hasession.flask", app, "session", store.close)
    subject.counter = lambda: store.stats.round_trips
    return subject


def flask_session_app(url: str) -> WsgiApp:
    from flask import session
    from flask_session.redis import RedisSessionInterface

    client = redis.Redis.from_url(url)
    app = flask_app("peers_flask_session", lambda: session, _nothing)
    app.session_interface = RedisSessionInterface(app, client=client)
    return WsgiApp("Flask-Session", app, app.config["SESSION_COOKIE_NAME"], client.close)


def beaker_flask(url: str) -> WsgiApp:
    from beaker.middleware import SessionMiddleware
    from flask import request

    options = {f"session.{key}": value for key, value in beaker_options(url).items()}
    app = flask_app("peers_beaker", lambda: request.environ["beaker.session"], lambda s: s.save())
    app.wsgi_app = SessionMiddleware(app.wsgi_app, options)
    return WsgiApp("Beaker SessionMiddleware (on Flask)", app, "beaker.session.id", lambda: None)


def configure_django(url: str) -> bool:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        USE_TZ=True,
        ROOT_URLCONF=django_urls(),
        CACHES={"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}},
        SESSION_REDIS={"url": url, "socket_timeout": 5.0},  # its 0.1 s default would drop loads
        HASESSION={"URL": url, "SECRET_KEYS": [SECRET]},
    )
    django.setup()
    return True


def django_urls() -> ModuleType:
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    def new(request: HttpRequest) -> HttpResponse:
        request.session.update(SESSION)
        return HttpResponse("ok")

    def read(request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(request.session.get("user_id")))

    def write(request: HttpRequest) -> HttpResponse:
        request.session["counter"] = int(request.GET["v"])
        return HttpResponse("ok")

    def untouched(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    urls = ModuleType("peers_urls")  # ROOT_URLCONF may be a module object instead of a dotted path
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("new", new),
        path("read", read),
        path("write", write),
        path("untouched", untouched),
    ]
    return urls


class DjangoApp(SyncApp):
    """Django's test ``Client`` with its middleware chain built for one ``SESSION_ENGINE``."""

    def __init__(self, label: str, engine: str, middleware: str, counter: Callable[[], int] | None) -> None:
        from django.conf import settings
        from django.test import Client, override_settings

        self.label, self.counter = label, counter
        self.cookie_name = settings.SESSION_COOKIE_NAME
        with override_settings(SESSION_ENGINE=engine, MIDDLEWARE=[middleware]):
            self.client = Client()
            self.client.handler.load_middleware()  # SessionMiddleware reads SESSION_ENGINE here, once

    def get(self, path: str, cookie: str | None) -> str | None:
        header = f"{self.cookie_name}={cookie}" if cookie else ""
        response = self.client.get(path, HTTP_COOKIE=header)  # overrides the client's cookie jar
        check(response.status_code, self.label, path)
        morsel = response.cookies.get(self.cookie_name)
        return morsel.value if morsel is not None and morsel.value else None


def hasession_django_counter() -> int:
    from hasession.django import get_store

    return get_store().stats.round_trips


DJANGO_ENGINES = [  # label, SESSION_ENGINE, middleware, hasession's counter
    (
        "hasession.django",
        "hasession.django",
        "hasession.django.SessionMiddleware",
        hasession_django_counter,
    ),
    (
        "Django cache + django-redis",
        "django.contrib.sessions.backends.cache",
        "django.contrib.sessions.middleware.SessionMiddleware",
        None,
    ),
    (
        "django-redis-sessions",
        "redis_sessions.session",
        "django.contrib.sessions.middleware.SessionMiddleware",
        None,
    ),
]


# -- measurements -------------------------------------------------------------------------------


@dataclass
class Traffic:
    """What one request cost in Redis, as the server counted it."""

    round_trips: int
    #: Every command the server ran, script-internal ones included.
    commands: Counter[str]
    #: hasession's own ``store.stats.round_trips`` delta (None for the peers).
    own: int | None = None

    def client_level(self) -> Counter[str]:
        if not self.commands.keys() & SCRIPT_LEVEL:
            return self.commands
        return Counter({c: n for c, n in self.commands.items() if c in SCRIPT_LEVEL})

    def in_scripts(self) -> Counter[str]:
        if not self.commands.keys() & SCRIPT_LEVEL:
            return Counter()
        return Counter({c: n for c, n in self.commands.items() if c not in SCRIPT_LEVEL})


class Meter:
    """Server-side counters: reset before a request, read after it."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def reset(self) -> None:
        self.client.config_resetstat()

    def read(self) -> tuple[int, Counter[str]]:
        info = self.client.info("all")
        commands: Counter[str] = Counter()
        for key, stats in info.items():
            if key.startswith("cmdstat_") and key not in ("cmdstat_config|resetstat", "cmdstat_info"):
                commands[key.removeprefix("cmdstat_")] = int(stats["calls"])
        # Every batch a client sends is one read event on the server; minus this INFO's own.
        return int(info["total_reads_processed"]) - 1, commands


@dataclass
class Timing:
    """Latencies of one (library, operation, concurrency) cell, over all rounds."""

    latencies: list[float] = field(default_factory=list)
    rounds: list[tuple[int, float]] = field(default_factory=list)  # (requests, wall seconds)

    @property
    def rps(self) -> float:
        """The median of the rounds' rates: robust to a round slowed by something else on the machine."""
        return statistics.median(self.round_rps())

    def round_rps(self) -> list[float]:
        return [n / w for n, w in self.rounds]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


S = TypeVar("S", SyncSubject, AsyncSubject)


@dataclass
class Group(Generic[S]):
    """Libraries compared with each other; the first is hasession, the baseline of the ratios."""

    title: str
    subjects: list[S]
    requests: int
    concurrency: tuple[int, ...] = (1,)
    traffic: dict[str, dict[str, Traffic]] = field(default_factory=dict)
    timings: dict[tuple[str, str, int], Timing] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)


@dataclass
class Run:
    server: RedisServer
    meter: Meter
    rounds: int
    breakdown: list[tuple[str, float]] = field(default_factory=list)
    load_at_start: float = field(default_factory=lambda: os.getloadavg()[0])
    skipped: list[str] = field(default_factory=list)
    groups: list[Group[Any]] = field(default_factory=list)

    def skip(self, label: str, exc: BaseException) -> None:
        self.skipped.append(f"{label}: {type(exc).__name__}: {exc}")
        progress(f"  skipped {label}: {type(exc).__name__}: {exc}")


def build(run: Run, label: str, factory: Callable[[], T]) -> T | None:
    """A subject, or None (and a note in the report) when the peer cannot be installed or driven."""
    try:
        return factory()
    except Exception as exc:
        run.skip(label, exc)
        return None


async def abuild(run: Run, label: str, factory: Callable[[], Awaitable[T]]) -> T | None:
    try:
        return await factory()
    except Exception as exc:
        run.skip(label, exc)
        return None


def rotated(items: Sequence[T], by: int) -> list[T]:
    """Each round starts with a different library, so none always runs first (or right after GC)."""
    by %= max(1, len(items))
    return [*items[by:], *items[:by]]


def _lost_key(i: int) -> str:
    return f"k{i:02d}"


# -- sync driver ----------------------------------------------------------------------------------


def traffic_sync(run: Run, subject: SyncSubject, cookie: str) -> dict[str, Traffic]:
    counter = iter(range(10**6, 2 * 10**6))
    operations: dict[str, Callable[[], object]] = {
        "new": subject.new,
        "read": lambda: subject.read(cookie),
        "write": lambda: subject.write(cookie, next(counter)),
        "untouched": lambda: subject.untouched(cookie),
    }
    result = {}
    for scenario, operation in operations.items():
        samples = []
        for _ in range(3):  # the fewest round trips of three: a periodic housekeeping call may land in one
            before = subject.round_trips()
            run.meter.reset()
            operation()
            trips, commands = run.meter.read()
            after = subject.round_trips()
            own = None if before is None or after is None else after - before
            samples.append(Traffic(trips, commands, own))
        result[scenario] = min(samples, key=lambda t: t.round_trips)
    return result


def lost_updates_sync(subject: SyncBackend) -> int:
    """50 threads (a threaded WSGI server's view of 50 overlapping requests) load one session, wait
    until all have loaded, then each sets its own key and ends its request."""
    cookie = subject.new()
    barrier = threading.Barrier(LOST_UPDATE_REQUESTS)

    def request(i: int) -> None:
        finish = subject.begin(cookie)
        barrier.wait(timeout=60)
        finish({_lost_key(i): True})

    with ThreadPoolExecutor(LOST_UPDATE_REQUESTS) as pool:
        list(pool.map(request, range(LOST_UPDATE_REQUESTS)))
    stored = subject.stored_keys(cookie)
    return sum(_lost_key(i) in stored for i in range(LOST_UPDATE_REQUESTS))


def sync_operation(subject: SyncSubject, scenario: str, cookie: str) -> Callable[[int], None]:
    """Request ``i`` of a timed cell (a write stores a new value each time, so it always changes)."""
    if scenario == "read":
        return lambda _i: subject.read(cookie)
    return lambda i: subject.write(cookie, i)


def settle() -> None:
    """Collect, then freeze what is left (every library loaded, the latencies so far): otherwise a full
    collection of that heap, 20 to 140 ms here, stalls whichever library happens to be running. The
    collections a library's own allocations trigger still happen, and are timed."""
    gc.collect()
    gc.freeze()


def time_sync(operation: Callable[[int], None], n: int, timing: Timing, start: int) -> None:
    clock, latencies = time.perf_counter, timing.latencies
    settle()
    began = clock()
    for i in range(start, start + n):
        t0 = clock()
        operation(i)
        latencies.append(clock() - t0)
    timing.rounds.append((n, clock() - began))


def measure_sync(run: Run, group: Group[SyncSubject]) -> None:
    progress(f"{group.title}: {', '.join(s.label for s in group.subjects)}")
    cookies: dict[str, str] = {}
    for subject in list(group.subjects):
        try:
            cookies[subject.label] = cookie = subject.new()
            for i in range(min(50, group.requests)):  # warm up: connections, scripts, imports
                subject.read(cookie)
                subject.write(cookie, i)
            group.traffic[subject.label] = traffic_sync(run, subject, cookie)
            if isinstance(subject, SyncBackend):
                group.lost[subject.label] = lost_updates_sync(subject)
        except Exception as exc:
            if subject is group.subjects[0]:  # hasession, the baseline: a failure here is a bug
                raise
            run.skip(subject.label, exc)
            group.subjects.remove(subject)
    per_round = max(1, group.requests // run.rounds)
    for r in range(run.rounds):
        for scenario in TIMED:
            for subject in rotated(group.subjects, r):
                operation = sync_operation(subject, scenario, cookies[subject.label])
                timing = group.timings.setdefault((subject.label, scenario, 1), Timing())
                time_sync(operation, per_round, timing, start=r * per_round)
    run.groups.append(group)


# -- async driver ---------------------------------------------------------------------------------


async def traffic_async(run: Run, subject: AsyncSubject, cookie: str) -> dict[str, Traffic]:
    counter = iter(range(10**6, 2 * 10**6))
    operations: dict[str, Callable[[], Awaitable[object]]] = {
        "new": subject.new,
        "read": lambda: subject.read(cookie),
        "write": lambda: subject.write(cookie, next(counter)),
        "untouched": lambda: subject.untouched(cookie),
    }
    result = {}
    for scenario, operation in operations.items():
        samples = []
        for _ in range(3):
            before = subject.round_trips()
            run.meter.reset()  # a blocking call, on purpose: nothing else runs meanwhile
            await operation()
            trips, commands = run.meter.read()
            after = subject.round_trips()
            own = None if before is None or after is None else after - before
            samples.append(Traffic(trips, commands, own))
        result[scenario] = min(samples, key=lambda t: t.round_trips)
    return result


async def lost_updates_async(subject: AsyncBackend) -> int:
    """50 tasks load one session; once all have loaded, each sets its own key and ends its request."""
    cookie = await subject.new()
    finishes = await asyncio.gather(*(subject.begin(cookie) for _ in range(LOST_UPDATE_REQUESTS)))
    await asyncio.gather(*(finish({_lost_key(i): True}) for i, finish in enumerate(finishes)))
    stored = await subject.stored_keys(cookie)
    return sum(_lost_key(i) in stored for i in range(LOST_UPDATE_REQUESTS))


def async_operation(
    subject: AsyncSubject, scenario: str, cookies: list[str]
) -> Callable[[int, int], Awaitable[None]]:
    """Request ``i`` of worker ``w``; each worker has its own session."""
    if scenario == "read":
        return lambda w, _i: subject.read(cookies[w])
    return lambda w, i: subject.write(cookies[w], i)


async def time_async(
    operation: Callable[[int, int], Awaitable[None]], n: int, concurrency: int, timing: Timing, start: int
) -> None:
    clock, latencies = time.perf_counter, timing.latencies

    async def worker(w: int) -> None:
        for i in range(start + w, start + n, concurrency):
            t0 = clock()
            await operation(w, i)
            latencies.append(clock() - t0)

    settle()
    began = clock()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    timing.rounds.append((n, clock() - began))


async def measure_async(run: Run, group: Group[AsyncSubject]) -> None:
    progress(f"{group.title}: {', '.join(s.label for s in group.subjects)}")
    width = max(group.concurrency)
    cookies: dict[str, list[str]] = {}
    for subject in list(group.subjects):
        try:
            cookies[subject.label] = [await subject.new() for _ in range(width)]  # one session per worker
            for i in range(min(50, group.requests)):
                await subject.read(cookies[subject.label][0])
                await subject.write(cookies[subject.label][0], i)
            group.traffic[subject.label] = await traffic_async(run, subject, cookies[subject.label][0])
            if isinstance(subject, AsyncBackend):
                group.lost[subject.label] = await lost_updates_async(subject)
        except Exception as exc:
            if subject is group.subjects[0]:  # hasession, the baseline: a failure here is a bug
                raise
            run.skip(subject.label, exc)
            group.subjects.remove(subject)
    per_round = max(1, group.requests // run.rounds)
    for r in range(run.rounds):
        for concurrency in group.concurrency:
            for scenario in TIMED:
                for subject in rotated(group.subjects, r):
                    operation = async_operation(subject, scenario, cookies[subject.label])
                    timing = group.timings.setdefault((subject.label, scenario, concurrency), Timing())
                    await time_async(operation, per_round, concurrency, timing, start=r * per_round)
    run.groups.append(group)


# -- the run ----------------------------------------------------------------------------------------


def collect(run: Run, baseline: S, peers: Sequence[tuple[str, Callable[[], S]]]) -> list[S]:
    """hasession (built as is: its failure is a bug to see), then every other row that could be built."""
    rows = [baseline]
    for label, factory in peers:
        if (subject := build(run, label, factory)) is not None:
            rows.append(subject)
    return rows


def sync_groups(run: Run, args: argparse.Namespace) -> list[Group[SyncSubject]]:
    url = run.server.url
    django_ok = build(run, "Django (all Django rows)", partial(configure_django, url)) is not None
    rows: list[tuple[str, Callable[[], SyncSubject]]] = []
    if django_ok:
        rows += [
            (
                "hasession.django engine",
                partial(
                    DjangoBackend, "hasession.django engine", "hasession.django", hasession_django_counter
                ),
            ),
            ("Django cache + django-redis", django_cache_backend),
            (
                "django-redis-sessions",
                partial(DjangoBackend, "django-redis-sessions", "redis_sessions.session"),
            ),
        ]
    rows += [("Flask-Session", partial(FlaskSessionBackend, url)), ("Beaker", partial(BeakerBackend, url))]
    groups = [Group("store level, sync, 1 thread", collect(run, HasessionBackend(url), rows), args.requests)]
    if args.no_apps:
        return groups
    flask: list[SyncSubject] = collect(
        run,
        hasession_flask(url),
        [
            ("Flask-Session app", partial(flask_session_app, url)),
            ("Beaker on Flask", partial(beaker_flask, url)),
        ],
    )
    groups.append(Group("Flask app, test client, 1 thread", flask, args.app_requests))
    if django_ok:
        django: list[SyncSubject] = collect(
            run,
            DjangoApp(*DJANGO_ENGINES[0]),
            [(engine[0], partial(DjangoApp, *engine)) for engine in DJANGO_ENGINES[1:]],
        )
        groups.append(Group("Django app, test Client, 1 thread", django, args.app_requests))
    return groups


def django_cache_backend() -> DjangoBackend:
    from django.core.cache import caches

    caches["default"].get("probe")  # fails here, not mid-run, when django-redis is missing
    return DjangoBackend("Django cache + django-redis", "django.contrib.sessions.backends.cache")


def sync_part(run: Run, args: argparse.Namespace) -> None:
    groups = sync_groups(run, args)
    try:
        for group in groups:
            measure_sync(run, group)
    finally:
        for group in groups:
            for subject in group.subjects:
                subject.close()


async def async_groups(run: Run, args: argparse.Namespace) -> list[Group[AsyncSubject]]:
    url, concurrency = run.server.url, tuple(sorted({1, args.concurrency}))
    stores: list[AsyncSubject] = collect(
        run,
        HasessionAsyncBackend(url),
        [
            ("starsessions", partial(StarsessionsBackend, url)),
            ("aiohttp-session", partial(AiohttpSessionBackend, url)),
        ],
    )
    groups = [Group("store level, async, one event loop", stores, args.requests, concurrency)]
    if args.no_apps:
        return groups
    asgi: list[AsyncSubject] = collect(
        run, hasession_starlette(url), [("starsessions app", partial(starsessions_starlette, url))]
    )
    groups.append(Group("Starlette app, httpx ASGITransport", asgi, args.app_requests, concurrency))
    aio: list[AsyncSubject] = [await hasession_aiohttp(url)]
    if (peer := await abuild(run, "aiohttp-session app", partial(aiohttp_session_app, url))) is not None:
        aio.append(peer)
    groups.append(Group("aiohttp app, TestServer over loopback", aio, args.app_requests, concurrency))
    return groups


async def async_part(run: Run, args: argparse.Namespace) -> None:
    groups = await async_groups(run, args)
    try:
        for group in groups:
            await measure_async(run, group)
    finally:
        for group in groups:
            for subject in group.subjects:
                await subject.close()


def best_us(operation: Callable[[], object], n: int) -> float:
    """Microseconds per call, best of three runs of ``n`` (the least disturbed by anything else)."""
    for _ in range(min(n, 200)):
        operation()
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(n):
            operation()
        best = min(best, (time.perf_counter() - began) / n)
    return best * 1e6


def blob_of(client: redis.Redis) -> bytes | str:
    return client.get("peers:blob") or "{}"


def breakdown(run: Run, n: int) -> None:
    """Where a read-only request's time goes: hasession's steps next to a plain GET of the same data."""
    progress("breakdown of a read-only request")
    store = hasession.SessionStore.from_url(run.server.url, secret_keys=SECRET)
    client = run.server.client()
    try:
        session = store.open(None)
        session.update(SESSION)
        cookie = str(store.save(session).value)
        loaded = store.load(cookie)
        client.set("peers:blob", json.dumps(SESSION))
        client.hset("peers:hash", mapping={key: json.dumps(value) for key, value in SESSION.items()})
        hgetall = client.register_script("return redis.call('HGETALL', KEYS[1])")
        steps: list[tuple[str, Callable[[], object]]] = [
            ("hasession store.open(cookie): verify the signed cookie, no I/O", partial(store.open, cookie)),
            ("hasession store.load(cookie): EVALSHA + decode the 10 values", partial(store.load, cookie)),
            ("hasession store.save(session read, unchanged): no I/O", partial(store.save, loaded)),
            (
                "redis-py GET + json.loads of the same session as one blob",
                lambda: json.loads(blob_of(client)),
            ),
            (
                "redis-py EVALSHA of a bare HGETALL script (no decoding)",
                partial(hgetall, keys=["peers:hash"]),
            ),
            ("redis-py PING: the bare round trip", client.ping),
        ]
        run.breakdown += [(label, best_us(step, n)) for label, step in steps]
        client.config_resetstat()
        for _ in range(n):
            store.load(cookie)
            client.get("peers:blob")
        stats = client.info("commandstats")
        run.breakdown += [
            (
                f"server time per {name.upper()} (INFO commandstats usec_per_call)",
                stats[f"cmdstat_{name}"]["usec_per_call"],
            )
            for name in ("evalsha", "hgetall", "get")
        ]
    finally:
        store.close()
        client.close()


def report_breakdown(rows: list[tuple[str, float]]) -> None:
    if not rows:
        return
    print("\n4. Where the time of a read-only request goes (store level, sync, µs per call, best of 3)")
    for label, micros in rows:
        print(f"     {label:66} {micros:7.1f}")


# -- the report -------------------------------------------------------------------------------------


def names(commands: Counter[str]) -> str:
    return " ".join(c.upper() + (f"x{n}" if n > 1 else "") for c, n in sorted(commands.items())) or "-"


def traffic_cell(t: Traffic) -> str:
    return f"{t.round_trips}: {names(t.client_level())}"


def report_traffic(run: Run) -> None:
    print("\n1. Redis traffic of one request, counted by the server (INFO after CONFIG RESETSTAT)")
    print("   cell = round trips: commands the client sent (hasession sends scripts: EVALSHA; see below)")
    width = 20
    header = "".join(f"{TITLES[s]:>{width}}" for s in SCENARIOS)
    for group in run.groups:
        print(f"\n   {group.title}")
        print(f"   {'library':38}{header}")
        for label, traffic in group.traffic.items():
            print(f"   {label:38}" + "".join(f"{traffic_cell(traffic[s]):>{width}}" for s in SCENARIOS))
    inner = next((g.traffic[g.subjects[0].label] for g in run.groups if g.traffic), None)
    if inner is not None:
        print("\n   what hasession's scripts ran inside Redis, per request:")
        for scenario in SCENARIOS:
            print(f"     {TITLES[scenario]:16} {names(inner[scenario].in_scripts())}")
    own = {
        label: "/".join(str(t[s].own) for s in SCENARIOS)
        for g in run.groups
        for label, t in g.traffic.items()
        if t["read"].own is not None
    }
    agree = all(
        t[s].own == t[s].round_trips
        for g in run.groups
        for t in g.traffic.values()
        for s in SCENARIOS
        if t[s].own is not None
    )
    same = len(set(own.values())) == 1
    counts = f"{next(iter(own.values()))} in each of the {len(own)} hasession rows" if same else str(own)
    verdict = "matches" if agree else "DIFFERS FROM"
    print(
        f"   hasession's own store.stats.round_trips ({'/'.join(SCENARIOS)}): {counts}: {verdict} the server"
    )


def ratio_text(subject: Timing, base: Timing) -> str:
    """The median of the per-round ratios: each compares runs made moments apart, so load from
    elsewhere on the machine cancels out better than in a ratio of totals."""
    per_round = [s / b for s, b in zip(subject.round_rps(), base.round_rps(), strict=True)]
    return f"{statistics.median(per_round):5.2f} [{min(per_round):.2f}-{max(per_round):.2f}]"


def report_timings(run: Run) -> None:
    print("\n2. Throughput and latency (session of 10 keys; rps = requests per second, HIGHER is better;")
    print("   ratio = library rps / hasession rps: hasession = 1.00, above 1.00 the library is faster;")
    print("   the ratio is the median over the interleaved rounds, [min-max] its range: a wide range means a")
    print("   noisy machine; p50/p99 = latency of one request in µs, LOWER is better)")
    head = f"{'rps':>7} {'ratio [min-max]':>17} {'p50':>6} {'p99':>6}"
    for group in run.groups:
        base_label = group.subjects[0].label
        for concurrency in group.concurrency:
            tasks = "1 at a time" if concurrency == 1 else f"{concurrency} concurrent"
            print(f"\n   {group.title}, {tasks}, {group.requests} requests per cell")
            print(f"   {'':38}{'read-only':^39}  {'one key changed':^39}")
            print(f"   {'library':38}{head}  {head}")
            for subject in group.subjects:
                cells = []
                for scenario in TIMED:
                    timing = group.timings[(subject.label, scenario, concurrency)]
                    base = group.timings[(base_label, scenario, concurrency)]
                    cells.append(
                        f"{timing.rps:7.0f} {ratio_text(timing, base):>17} "
                        f"{timing.percentile(0.5) * 1e6:6.0f} {timing.percentile(0.99) * 1e6:6.0f}"
                    )
                print(f"   {subject.label:38}{'  '.join(cells)}")


def report_lost(run: Run) -> None:
    print(f"\n3. Lost updates: {LOST_UPDATE_REQUESTS} overlapping requests on one session, each setting")
    print("   its own key (all load before any saves: threads for sync libraries, tasks for async ones).")
    print(f"   keys that survive, of {LOST_UPDATE_REQUESTS}:")
    for group in run.groups:
        for label, kept in group.lost.items():
            print(f"     {label:38} {kept:>3}/{LOST_UPDATE_REQUESTS}")


def report(run: Run, args: argparse.Namespace, seconds: float) -> None:
    info = run.server.client().info("server")
    print("\nhasession vs peer session libraries")
    print(
        f"machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python "
        f"{platform.python_version()}; redis-server {info['redis_version']} on loopback "
        f"(same server for all); {package('redis')}, {package('hiredis')}"
    )
    print(
        f"load average (1 min): {run.load_at_start:.2f} before the run (0 = an idle machine; more means "
        f"other processes shared the cores: read the [min-max] ranges), {os.getloadavg()[0]:.2f} at the "
        f"end (this run's own client and redis-server included)"
    )
    libraries = ["hasession", "starsessions", "Flask-Session", "aiohttp-session", "django-redis"]
    libraries += ["django-redis-sessions", "Beaker", "Django", "Flask", "starlette", "aiohttp"]
    print("versions: " + ", ".join(package(name) for name in libraries))
    print(
        f"settings: {args.requests} requests per store-level cell, {args.app_requests} per app-level cell, "
        f"in {run.rounds} interleaved rounds; concurrency {args.concurrency} for async; "
        f"took {seconds:.0f} s"
    )
    if run.skipped:
        print("skipped (not installed, or could not be driven; see bench/requirements-peers.txt):")
        for note in run.skipped:
            print(f"  - {note}")
    report_traffic(run)
    report_timings(run)
    report_lost(run)
    report_breakdown(run.breakdown)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run (fewer requests)")
    parser.add_argument("--requests", type=int, help="per store-level cell (default 4000; quick 800)")
    parser.add_argument("--app-requests", type=int, help="per app-level cell (default 1600; quick 320)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 40; quick 16)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent requests for async libraries")
    parser.add_argument("--no-apps", action="store_true", help="store level only")
    args = parser.parse_args()
    args.requests = args.requests or (800 if args.quick else 4000)
    args.app_requests = args.app_requests or (320 if args.quick else 1600)
    rounds = args.rounds or (16 if args.quick else 40)
    started = time.perf_counter()
    with RedisServer() as server:
        run = Run(server, Meter(server.client()), rounds)
        sync_part(run, args)
        asyncio.run(async_part(run, args))
        breakdown(run, 500 if args.quick else 2000)
        report(run, args, time.perf_counter() - started)


if __name__ == "__main__":
    main()
