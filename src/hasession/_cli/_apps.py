"""The two web apps ``hasession demo`` puts in front of the same Redis Sentinel group.

Both are the same tiny Starlette app: ``POST /login`` and ``POST /count``. One keeps its
sessions with hasession; the other the way most apps do today, as a JSON blob read and written
through redis-py's Sentinel client (``master_for``), like starsessions or Flask-Session do.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import AsyncSessionStore, CookieOptions
from ..starlette import SessionMiddleware, session_from

__all__ = ["baseline_app", "hasession_app"]

_COOKIE = CookieOptions(secure=False)  # the demo runs over plain http on 127.0.0.1


def hasession_app(store: AsyncSessionStore) -> Starlette:
    """The demo app on hasession."""

    async def login(request: Request) -> Response:
        session = await session_from(request)
        session.user_id = (await request.json())["user"]
        session.cycle_id()
        session["count"] = 0
        return JSONResponse({"user": session.user_id, "count": 0})

    async def count(request: Request) -> Response:
        session = await session_from(request)
        if session.user_id is None:
            return JSONResponse({"error": "signed out"}, status_code=401)
        session["count"] = session.get("count", 0) + 1
        return JSONResponse({"user": session.user_id, "count": session["count"]})

    routes = [Route("/login", login, methods=["POST"]), Route("/count", count, methods=["POST"])]
    app = Starlette(routes=routes)
    return SessionMiddleware(app, store=store, cookie=_COOKIE)  # type: ignore[return-value]


def baseline_app(sentinels: list[tuple[str, int]], master_name: str) -> Starlette:
    """The same app with a typical session store: a JSON blob through redis-py Sentinel."""
    from redis.asyncio.sentinel import Sentinel

    master = Sentinel(sentinels, socket_timeout=1.0).master_for(  # type: ignore[no-untyped-call]
        master_name, socket_timeout=1.0
    )

    async def load(request: Request) -> tuple[str, dict[str, Any]]:
        sid = request.cookies.get("sid") or secrets.token_urlsafe(32)
        raw = await master.get(f"sess:{sid}")
        return sid, json.loads(raw) if raw else {}

    async def save(sid: str, data: dict[str, Any], response: Response) -> Response:
        await master.set(f"sess:{sid}", json.dumps(data), ex=3600)
        response.set_cookie("sid", sid, httponly=True)
        return response

    async def login(request: Request) -> Response:
        sid, data = await load(request)
        data.update(user=(await request.json())["user"], count=0)
        return await save(sid, data, JSONResponse({"user": data["user"], "count": 0}))

    async def count(request: Request) -> Response:
        sid, data = await load(request)
        if "user" not in data:
            return JSONResponse({"error": "signed out"}, status_code=401)
        data["count"] += 1
        return await save(sid, data, JSONResponse({"user": data["user"], "count": data["count"]}))

    return Starlette(
        routes=[Route("/login", login, methods=["POST"]), Route("/count", count, methods=["POST"])]
    )
