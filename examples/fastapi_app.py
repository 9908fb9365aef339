"""A small FastAPI app with hasession sessions (``session: SessionDep`` in any endpoint).

Run it against a local Redis (or any hasession URL, such as a Sentinel one)::

    HASESSION_URL=redis://127.0.0.1:6379/0 uvicorn examples.fastapi_app:app

``HASESSION_SECRET`` signs the cookies (a development default is used when it is unset).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Request

from hasession import AsyncSessionStore, CookieOptions
from hasession.fastapi import SessionDep, init_app

DEV_SECRET = "dev-only-secret-do-not-use-in-production"


def store_from_env() -> AsyncSessionStore:
    """The session store named by ``$HASESSION_URL`` (default: Redis on localhost)."""
    url = os.environ.get("HASESSION_URL", "redis://127.0.0.1:6379/0")
    return AsyncSessionStore.from_url(url, secret_keys=os.environ.get("HASESSION_SECRET", DEV_SECRET))


async def read_user(request: Request) -> str:
    """The user name from a JSON body (``{"user": ...}``) or a urlencoded form."""
    if request.headers.get("content-type", "").startswith("application/json"):
        return str((await request.json()).get("user", ""))
    return parse_qs((await request.body()).decode()).get("user", [""])[0]


def create_app(store: AsyncSessionStore | None = None, *, cookie: CookieOptions | None = None) -> FastAPI:
    """The demo app, using ``store`` (default: :func:`store_from_env`), closed at shutdown."""
    the_store = store or store_from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await the_store.close()

    app = FastAPI(lifespan=lifespan)
    app.state.store = the_store
    init_app(app, store=the_store, cookie=cookie or CookieOptions())

    @app.post("/login")
    async def login(request: Request, session: SessionDep) -> dict[str, Any]:
        user = await read_user(request)
        if not user:
            raise HTTPException(400, "user is required")
        session.user_id = user
        session.cycle_id()  # a new id at every log-in: no session fixation
        return {"user": user}

    @app.api_route("/count", methods=["GET", "POST"])
    async def count(session: SessionDep) -> dict[str, Any]:
        session["count"] = session.get("count", 0) + 1
        return {"count": session["count"]}

    @app.post("/logout")
    async def logout(session: SessionDep) -> dict[str, Any]:
        session.destroy()
        return {"user": None}

    @app.post("/revoke-others")
    async def revoke_others(session: SessionDep) -> dict[str, Any]:
        if session.user_id is None:
            raise HTTPException(401, "not signed in")
        return {"revoked": await the_store.revoke_user(session.user_id, keep=session)}

    @app.get("/whoami")
    async def whoami(session: SessionDep) -> dict[str, Any]:
        return {"user": session.user_id, "count": session.get("count", 0)}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}  # no SessionDep: no Redis call

    return app


app = create_app()
