"""Type-checked (mypy --strict), never executed: the aiohttp adapter's public types."""

from __future__ import annotations

from aiohttp import web
from typing_extensions import assert_type

from hasession import AsyncSessionStore, CookieOptions, Session, StoreError
from hasession.aiohttp import (
    STORE_KEY,
    ErrorHook,
    SessionMiddleware,
    get_session,
    init_app,
    session_from,
    setup,
)


def sync_hook(exc: StoreError, request: web.Request) -> web.StreamResponse:
    return web.Response(status=503, text="down")


async def async_hook(exc: StoreError, request: web.Request) -> web.Response:
    return web.Response(status=503, text="down")


def wiring(store: AsyncSessionStore) -> None:
    app = web.Application()
    setup(app, store)
    setup(app, store, cookie=CookieOptions(max_age=60), on_error=sync_hook)
    setup(app, store, on_error=async_hook)
    init_app(app, store=store, cookie=CookieOptions())
    assert_type(app[STORE_KEY], AsyncSessionStore)
    middleware = SessionMiddleware(store, cookie=CookieOptions())
    app.middlewares.append(middleware)
    hook: ErrorHook = sync_hook
    setup(app, store, on_error=hook)

    init_app(app, store)  # type: ignore[call-arg]
    setup(app, store, cookie="session")  # type: ignore[arg-type]
    app[STORE_KEY] = "redis://localhost"  # type: ignore[misc]


async def handler(request: web.Request) -> web.Response:
    session = await get_session(request)
    assert_type(session, Session)
    assert_type(await session_from(request), Session)
    store = request.app[STORE_KEY]
    assert_type(await store.revoke_user("alice", keep=session), int)
    return web.json_response({"user": session.user_id})
