"""The Starlette and FastAPI subjects, served by uvicorn (``--factory bench.peers.apps_asgi:starlette``).

Peer: starsessions (its ``SessionMiddleware`` over its ``RedisStore``, the session loaded in the handler with
``load_session``, as its docs show). hasession: :mod:`hasession.starlette` and :mod:`hasession.fastapi`.
No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at runtime.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from .common import LIFETIME, SECRET, SESSION, Settings, settings

GetSession = Callable[[Request], Awaitable[MutableMapping[str, Any]]]


async def _no_session(request: Request) -> MutableMapping[str, Any]:
    return {}


def _sessions(config: Settings) -> tuple[list[Middleware], GetSession]:
    """The middleware of ``config.variant`` and how a handler gets the loaded session."""
    if config.variant == "hasession":
        import hasession
        from hasession.starlette import SessionMiddleware, session_from

        store = hasession.AsyncSessionStore.from_url(config.url, secret_keys=SECRET)
        return [Middleware(SessionMiddleware, store=store)], session_from
    if config.variant == "peer":
        from starsessions import SessionMiddleware, load_session
        from starsessions.stores.redis import RedisStore

        async def loaded(request: Request) -> MutableMapping[str, Any]:
            await load_session(request)
            return request.session

        store = RedisStore(connection=config.sentinel_client(asyncio=True))
        return [Middleware(SessionMiddleware, store=store, lifetime=LIFETIME)], loaded
    return [], _no_session


def starlette() -> Starlette:
    """The Starlette app of this process's ``BENCH_VARIANT``."""
    middleware, get_session = _sessions(settings())

    async def new(request: Request) -> PlainTextResponse:
        (await get_session(request)).update(SESSION)
        return PlainTextResponse("ok")

    async def read(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str((await get_session(request)).get("user_id")))

    async def write(request: Request) -> PlainTextResponse:
        (await get_session(request))["counter"] = int(request.query_params["v"])
        return PlainTextResponse("ok")

    routes = [Route("/new", new), Route("/read", read), Route("/write", write)]
    return Starlette(routes=routes, middleware=middleware)


def fastapi() -> Any:
    """The FastAPI app of this process's ``BENCH_VARIANT``: the session is a dependency of each endpoint."""
    from fastapi import Depends, FastAPI

    config = settings()
    middleware, get_session = _sessions(config)
    if config.variant == "hasession":
        from hasession.fastapi import get_session as dependency
    else:
        dependency = get_session
    SessionParam = Annotated[MutableMapping[str, Any], Depends(dependency)]
    app = FastAPI(middleware=middleware, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/new")
    async def new(session: SessionParam) -> PlainTextResponse:
        session.update(SESSION)
        return PlainTextResponse("ok")

    @app.get("/read")
    async def read(session: SessionParam) -> PlainTextResponse:
        return PlainTextResponse(str(session.get("user_id")))

    @app.get("/write")
    async def write(session: SessionParam, v: int) -> PlainTextResponse:
        session["counter"] = v
        return PlainTextResponse("ok")

    return app
