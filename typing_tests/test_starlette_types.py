"""Type-checked (mypy --strict), never executed: the Starlette and FastAPI adapters' public types."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from typing_extensions import assert_type

from hasession import AsyncSessionStore, CookieOptions, Session, StoreError
from hasession import fastapi as hs_fastapi
from hasession.starlette import ErrorHook, SessionMiddleware, init_app, session_from


def sync_hook(exc: StoreError, request: Request) -> Response:
    return PlainTextResponse("down", status_code=503)


async def async_hook(exc: StoreError, request: Request) -> Response:
    return PlainTextResponse("down", status_code=503)


def wiring(store: AsyncSessionStore) -> None:
    app = Starlette(
        middleware=[Middleware(SessionMiddleware, store=store, cookie=CookieOptions(max_age=60), eager=True)]
    )
    init_app(app, store=store)
    init_app(app, store=store, cookie=CookieOptions(samesite="strict"))
    middleware = SessionMiddleware(app, store=store, on_error=sync_hook)
    SessionMiddleware(app, store=store, on_error=async_hook)
    assert_type(middleware.store, AsyncSessionStore)
    assert_type(middleware.cookie, CookieOptions)
    hook: ErrorHook = async_hook
    SessionMiddleware(app, store=store, on_error=hook)

    init_app(app, store)  # type: ignore[call-arg]
    SessionMiddleware(app, store=store, eager="yes")  # type: ignore[arg-type]
    SessionMiddleware(app, store=store, cookie={"name": "s"})  # type: ignore[arg-type]
    CookieOptions(samesite="sometimes")  # type: ignore[arg-type]


async def handler(request: Request, websocket: HTTPConnection) -> None:
    session = await session_from(request)
    assert_type(session, Session)
    assert_type(await session_from(websocket), Session)
    assert_type(session.user_id, str | None)
    assert_type(session["count"], Any)
    session.user_id = "alice"
    session.cycle_id()
    session.user_id = 42  # type: ignore[assignment]
    session[1] = "x"  # type: ignore[index]


def fastapi_wiring(store: AsyncSessionStore) -> None:
    app = FastAPI()
    hs_fastapi.init_app(app, store=store)

    @app.get("/whoami")
    async def whoami(session: hs_fastapi.SessionDep) -> dict[str, str | None]:
        assert_type(session, Session)
        return {"user": session.user_id}


async def fastapi_dependency(request: Request) -> None:
    assert_type(await hs_fastapi.get_session(request), Session)
