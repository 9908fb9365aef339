"""A small aiohttp app with hasession sessions.

Run it against a local Redis (or any hasession URL, such as a Sentinel one)::

    HASESSION_URL=redis://127.0.0.1:6379/0 python -m aiohttp.web -P 8080 examples.aiohttp_app:create_app

``HASESSION_SECRET`` signs the cookies (a development default is used when it is unset).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from aiohttp import web

from hasession import AsyncSessionStore, CookieOptions
from hasession.aiohttp import STORE_KEY, get_session, setup

DEV_SECRET = "dev-only-secret-do-not-use-in-production"

routes = web.RouteTableDef()


def store_from_env() -> AsyncSessionStore:
    """The session store named by ``$HASESSION_URL`` (default: Redis on localhost)."""
    url = os.environ.get("HASESSION_URL", "redis://127.0.0.1:6379/0")
    return AsyncSessionStore.from_url(url, secret_keys=os.environ.get("HASESSION_SECRET", DEV_SECRET))


async def read_user(request: web.Request) -> str:
    """The user name from a JSON body (``{"user": ...}``) or a urlencoded form."""
    if request.content_type == "application/json":
        return str((await request.json()).get("user", ""))
    return str((await request.post()).get("user", ""))


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    user, session = await read_user(request), await get_session(request)
    if not user:
        raise web.HTTPBadRequest(text="user is required")
    session.user_id = user
    session.cycle_id()  # a new id at every log-in: no session fixation
    return web.json_response({"user": user})


@routes.route("*", "/count")
async def count(request: web.Request) -> web.Response:
    session = await get_session(request)
    session["count"] = session.get("count", 0) + 1
    return web.json_response({"count": session["count"]})


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    (await get_session(request)).destroy()
    return web.json_response({"user": None})


@routes.post("/revoke-others")
async def revoke_others(request: web.Request) -> web.Response:
    session = await get_session(request)
    if session.user_id is None:
        raise web.HTTPUnauthorized(text="not signed in")
    revoked = await request.app[STORE_KEY].revoke_user(session.user_id, keep=session)
    return web.json_response({"revoked": revoked})


@routes.get("/whoami")
async def whoami(request: web.Request) -> web.Response:
    session = await get_session(request)
    return web.json_response({"user": session.user_id, "count": session.get("count", 0)})


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")  # never touches the session: no Redis call


async def _close_store(app: web.Application) -> None:
    await app[STORE_KEY].close()


def create_app(
    argv: Sequence[str] = (), *, store: AsyncSessionStore | None = None, cookie: CookieOptions | None = None
) -> web.Application:
    """The demo app, using ``store`` (default: :func:`store_from_env`), closed at cleanup.

    ``argv`` is what ``python -m aiohttp.web`` passes to an app factory (unused).
    """
    app = web.Application()
    setup(app, store or store_from_env(), cookie=cookie or CookieOptions())
    app.on_cleanup.append(_close_store)
    app.add_routes(routes)
    return app
