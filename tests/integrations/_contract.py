"""The same small app on every adapter, served for real on loopback, for ``test_contract.py``.

Each adapter's app has the same routes:

- ``GET /plain``: ignores the session;
- ``GET /read``: ``{"data": <the session's data>}``;
- ``POST /set/<key>``: loads the session, waits at the site's :class:`~_wsgi.Gate`, sets ``key``;
- ``POST /login``: ``user_id = "ann"`` and a new id (``cycle_id``, Django's ``cycle_key``);
- ``POST /logout``: destroys the session (Django's ``flush``);
- ``GET /vary``: reads the session and answers with its own ``Vary: Accept-Encoding``.

Every site runs in a thread of its own (uvicorn for ASGI, aiohttp's runner, a threaded WSGI server),
so one synchronous test drives them all with :class:`~_wsgi.Browser`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from _wsgi import Gate, serve

from hasession import AsyncSessionStore, CookieOptions, RetryPolicy, SessionPolicy, SessionStore
from hasession.fastapi import SessionDep  # module-level: FastAPI resolves the endpoints' annotations here
from hasession.testing import wait_until

__all__ = ["ADAPTERS", "Policies", "Site"]

SECRET = "contract-tests-secret-0123456789abcdef"


@dataclass
class Site:
    """One adapter's app, served: its URL, its gate, and a sync store on the same Redis."""

    url: str
    gate: Gate
    #: A store that reads what the app's store wrote (same Redis, same keys).
    store: SessionStore
    cookie_name: str = "session"


SiteFactory = Callable[
    ..., Any
]  # (hasession_redis_url, *, cookie, retry, session) -> a context manager of Site


@dataclass(frozen=True)
class Policies:
    """The store options a contract test may set (``None``: the default)."""

    retry: RetryPolicy | None = None
    session: SessionPolicy | None = None

    def options(self) -> dict[str, Any]:
        return {k: v for k, v in (("retry", self.retry), ("session", self.session)) if v is not None}


def _sync_store(url: str, policies: Policies) -> SessionStore:
    return SessionStore.from_url(url, secret_keys=SECRET, **policies.options())


def _async_store(url: str, policies: Policies) -> AsyncSessionStore:
    return AsyncSessionStore.from_url(url, secret_keys=SECRET, **policies.options())


def _loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def _served_asgi(app: Any) -> Iterator[str]:
    import uvicorn

    sock = _loopback_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=30, message="uvicorn to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@contextmanager
def _served_aiohttp(app: Any) -> Iterator[str]:
    from aiohttp import web

    sock = _loopback_socket()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    stop = loop.create_future()

    async def run() -> None:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        await stop
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    try:
        wait_until(lambda: runner.server is not None and bool(runner.sites), timeout=30, message="aiohttp")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(30)
        loop.close()
        sock.close()


def _closing(store: AsyncSessionStore) -> Callable[[Any], Any]:
    """A lifespan that closes ``store`` in the app's own event loop."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        await store.close()

    return lifespan


# -- Starlette, FastAPI --------------------------------------------------------------------------


def _starlette_app(store: AsyncSessionStore, cookie: CookieOptions, gate: Gate) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from hasession.starlette import init_app, session_from

    async def plain(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def read(request: Request) -> Response:
        return JSONResponse({"data": dict(await session_from(request))})

    async def set_key(request: Request) -> Response:
        session = await session_from(request)
        await gate.ahold()
        session[request.path_params["key"]] = True
        return JSONResponse({"ok": True})

    async def login(request: Request) -> Response:
        session = await session_from(request)
        session.user_id = "ann"
        session.cycle_id()
        return JSONResponse({})

    async def logout(request: Request) -> Response:
        (await session_from(request)).destroy()
        return JSONResponse({})

    async def vary(request: Request) -> Response:
        (await session_from(request)).get("k")
        return PlainTextResponse("ok", headers={"Vary": "Accept-Encoding"})

    routes = [
        Route("/plain", plain),
        Route("/read", read),
        Route("/set/{key}", set_key, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/vary", vary),
    ]
    app = Starlette(routes=routes, lifespan=_closing(store))
    init_app(app, store=store, cookie=cookie)
    return app


def _fastapi_app(store: AsyncSessionStore, cookie: CookieOptions, gate: Gate) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    from hasession.fastapi import init_app

    app = FastAPI(lifespan=_closing(store))
    init_app(app, store=store, cookie=cookie)

    @app.get("/plain")
    async def plain() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/read")
    async def read(session: SessionDep) -> dict[str, Any]:
        return {"data": dict(session)}

    @app.post("/set/{key}")
    async def set_key(key: str, session: SessionDep) -> dict[str, bool]:
        await gate.ahold()
        session[key] = True
        return {"ok": True}

    @app.post("/login")
    async def login(session: SessionDep) -> dict[str, str]:
        session.user_id = "ann"
        session.cycle_id()
        return {}

    @app.post("/logout")
    async def logout(session: SessionDep) -> dict[str, str]:
        session.destroy()
        return {}

    @app.get("/vary")
    async def vary(session: SessionDep) -> PlainTextResponse:
        session.get("k")
        return PlainTextResponse("ok", headers={"Vary": "Accept-Encoding"})

    return app


@contextmanager
def _asgi_site(
    make: Callable[..., Any], url: str, cookie: CookieOptions, retry: RetryPolicy | None
) -> Iterator[Site]:
    gate = Gate()
    gate.open()
    with (
        _sync_store(url, retry) as reader,
        _served_asgi(make(_async_store(url, retry), cookie, gate)) as base,
    ):
        yield Site(base, gate, reader, cookie.name)


# -- aiohttp -------------------------------------------------------------------------------------


def _aiohttp_app(store: AsyncSessionStore, cookie: CookieOptions, gate: Gate) -> Any:
    from aiohttp import web

    from hasession.aiohttp import get_session, init_app

    routes = web.RouteTableDef()

    @routes.get("/plain")
    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    @routes.get("/read")
    async def read(request: web.Request) -> web.Response:
        return web.json_response({"data": dict(await get_session(request))})

    @routes.post("/set/{key}")
    async def set_key(request: web.Request) -> web.Response:
        session = await get_session(request)
        await gate.ahold()
        session[request.match_info["key"]] = True
        return web.json_response({"ok": True})

    @routes.post("/login")
    async def login(request: web.Request) -> web.Response:
        session = await get_session(request)
        session.user_id = "ann"
        session.cycle_id()
        return web.json_response({})

    @routes.post("/logout")
    async def logout(request: web.Request) -> web.Response:
        (await get_session(request)).destroy()
        return web.json_response({})

    @routes.get("/vary")
    async def vary(request: web.Request) -> web.Response:
        (await get_session(request)).get("k")
        return web.Response(text="ok", headers={"Vary": "Accept-Encoding"})

    async def close(app: web.Application) -> None:
        await store.close()

    app = web.Application()
    init_app(app, store=store, cookie=cookie)
    app.add_routes(routes)
    app.on_cleanup.append(close)
    return app


@contextmanager
def _aiohttp_site(url: str, *, cookie: CookieOptions, policies: Policies) -> Iterator[Site]:
    gate = Gate()
    gate.open()
    app = _aiohttp_app(_async_store(url, policies), cookie, gate)
    with _sync_store(url, policies) as reader, _served_aiohttp(app) as base:
        yield Site(base, gate, reader, cookie.name)


# -- Flask ---------------------------------------------------------------------------------------


def _flask_app(store: SessionStore, cookie: CookieOptions, gate: Gate) -> Any:
    from flask import Flask, Response, session

    from hasession.flask import init_app, session_from

    app = Flask(__name__)
    init_app(app, store=store, cookie=cookie)

    @app.get("/plain")
    def plain() -> str:
        return "ok"

    @app.get("/read")
    def read() -> dict[str, Any]:
        return {"data": dict(session)}

    @app.post("/set/<key>")
    def set_key(key: str) -> dict[str, bool]:
        session.get("k")  # load first, then wait with the others: their saves overlap
        gate.hold()
        session[key] = True
        return {"ok": True}

    @app.post("/login")
    def login() -> dict[str, str]:
        from flask import request

        current = session_from(request)
        current.user_id = "ann"
        current.cycle_id()
        return {}

    @app.post("/logout")
    def logout() -> dict[str, str]:
        from flask import request

        session_from(request).destroy()
        return {}

    @app.get("/vary")
    def vary() -> Response:
        session.get("k")
        return Response("ok", headers={"Vary": "Accept-Encoding"})

    return app


@contextmanager
def _flask_site(url: str, *, cookie: CookieOptions, policies: Policies) -> Iterator[Site]:
    gate = Gate()
    gate.open()
    with _sync_store(url, policies) as store, serve(_flask_app(store, cookie, gate)) as base:
        yield Site(base, gate, store, cookie.name)


# -- Django --------------------------------------------------------------------------------------


class _DjangoUrls:
    """The Django routes (``ROOT_URLCONF`` may be any object with ``urlpatterns``)."""

    gate = Gate()
    urlpatterns: ClassVar[list[Any]] = []


def _django_routes() -> list[Any]:
    from django.http import HttpRequest, HttpResponse, JsonResponse
    from django.urls import path
    from django.views.decorators.http import require_POST

    gate = _DjangoUrls.gate

    def plain(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    def read(request: HttpRequest) -> JsonResponse:
        return JsonResponse({"data": dict(request.session.items())})

    @require_POST
    def set_key(request: HttpRequest, key: str) -> JsonResponse:
        request.session.get("k")
        gate.hold()
        request.session[key] = True
        return JsonResponse({"ok": True})

    @require_POST
    def login(request: HttpRequest) -> JsonResponse:
        request.session.user_id = "ann"  # type: ignore[attr-defined]
        request.session.cycle_key()
        return JsonResponse({})

    @require_POST
    def logout(request: HttpRequest) -> JsonResponse:
        request.session.flush()
        return JsonResponse({})

    def vary(request: HttpRequest) -> HttpResponse:
        request.session.get("k")
        response = HttpResponse("ok")
        response["Vary"] = "Accept-Encoding"
        return response

    return [
        path("plain", plain),
        path("read", read),
        path("set/<str:key>", set_key),
        path("login", login),
        path("logout", logout),
        path("vary", vary),
    ]


def _django_cookie_settings(cookie: CookieOptions) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "SESSION_COOKIE_NAME": cookie.name,
        "SESSION_COOKIE_PATH": cookie.path,
        "SESSION_COOKIE_DOMAIN": cookie.domain,
        "SESSION_COOKIE_SECURE": cookie.secure,
        "SESSION_COOKIE_HTTPONLY": cookie.httponly,
        "SESSION_COOKIE_SAMESITE": cookie.samesite.capitalize() if cookie.samesite else None,
    }
    if cookie.max_age is not None:
        settings["SESSION_COOKIE_AGE"] = cookie.max_age
    return settings


@contextmanager
def _django_site(url: str, *, cookie: CookieOptions, policies: Policies) -> Iterator[Site]:
    from django_suite import bootstrap

    bootstrap.configure()
    from django.core.wsgi import get_wsgi_application
    from django.test import override_settings

    from hasession.django import get_store

    if not _DjangoUrls.urlpatterns:
        _DjangoUrls.urlpatterns = _django_routes()
    options = policies.options()
    settings = _django_cookie_settings(cookie)
    gate = _DjangoUrls.gate
    gate.open()
    with (
        override_settings(ROOT_URLCONF=_DjangoUrls, HASESSION={"URL": url, "OPTIONS": options}, **settings),
        serve(get_wsgi_application()) as base,
    ):
        yield Site(base, gate, get_store(), cookie.name)


def _starlette_site(url: str, *, cookie: CookieOptions, policies: Policies) -> Any:
    return _asgi_site(_starlette_app, url, cookie, policies)


def _fastapi_site(url: str, *, cookie: CookieOptions, policies: Policies) -> Any:
    return _asgi_site(_fastapi_app, url, cookie, policies)


#: Every adapter, by name: ``ADAPTERS[name](hasession_redis_url, cookie=..., policies=...)`` serves its app.
ADAPTERS: dict[str, SiteFactory] = {
    "starlette": _starlette_site,
    "fastapi": _fastapi_site,
    "aiohttp": _aiohttp_site,
    "flask": _flask_site,
    "django": _django_site,
}
