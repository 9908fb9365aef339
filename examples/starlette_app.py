"""A small Starlette app with hasession sessions.

Run it against a local Redis (or any hasession URL, such as a Sentinel one)::

    HASESSION_URL=redis+sentinel://127.0.0.1:26379/mymaster/0 uvicorn examples.starlette_app:app

``HASESSION_SECRET`` signs the cookies (a development default is used when it is unset).
The session cookie is ``Secure``: browsers send it over plain http only to ``localhost``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from hasession import AsyncSessionStore, CookieOptions
from hasession.starlette import init_app, session_from

DEV_SECRET = "dev-only-secret-do-not-use-in-production"

PAGE = """<!doctype html>
<title>hasession demo</title>
<p>Signed in as <b id="user">{user}</b>. Count: <b id="count">{count}</b></p>
<button id="incr">+1</button>
<button id="logout">Sign out</button>
<script>
document.getElementById("incr").onclick = async () => {{
  const reply = await fetch("/count", {{method: "POST"}});
  const text = reply.ok ? String((await reply.json()).count) : "error " + reply.status;
  document.getElementById("count").textContent = text;
}};
document.getElementById("logout").onclick = async () => {{
  await fetch("/logout", {{method: "POST"}});
  location.reload();
}};
</script>
"""

LOGIN = """<!doctype html>
<title>hasession demo</title>
<form method="post" action="/login">
  <input name="user" id="name" placeholder="user name"> <button id="login">Sign in</button>
</form>
"""


def store_from_env() -> AsyncSessionStore:
    """The session store named by ``$HASESSION_URL`` (default: Redis on localhost)."""
    url = os.environ.get("HASESSION_URL", "redis://127.0.0.1:6379/0")
    return AsyncSessionStore.from_url(url, secret_keys=os.environ.get("HASESSION_SECRET", DEV_SECRET))


async def read_user(request: Request) -> str:
    """The user name from a JSON body (``{"user": ...}``) or a urlencoded form."""
    if request.headers.get("content-type", "").startswith("application/json"):
        return str((await request.json()).get("user", ""))
    return parse_qs((await request.body()).decode()).get("user", [""])[0]


async def home(request: Request) -> Response:
    session = await session_from(request)
    if session.user_id is None:
        return HTMLResponse(LOGIN)
    return HTMLResponse(PAGE.format(user=session.user_id, count=session.get("count", 0)))


async def login(request: Request) -> Response:
    user, session = await read_user(request), await session_from(request)
    if not user:
        return JSONResponse({"error": "user is required"}, status_code=400)
    session.user_id = user
    session.cycle_id()  # a new id at every log-in: no session fixation
    if request.headers.get("content-type", "").startswith("application/json"):
        return JSONResponse({"user": user})
    return RedirectResponse("/", status_code=303)


async def count(request: Request) -> Response:
    session = await session_from(request)
    session["count"] = session.get("count", 0) + 1
    return JSONResponse({"count": session["count"]})


async def logout(request: Request) -> Response:
    (await session_from(request)).destroy()
    return JSONResponse({"user": None})


async def revoke_others(request: Request) -> Response:
    session = await session_from(request)
    if session.user_id is None:
        return JSONResponse({"error": "not signed in"}, status_code=401)
    revoked = await request.app.state.store.revoke_user(session.user_id, keep=session)
    return JSONResponse({"revoked": revoked})


async def whoami(request: Request) -> Response:
    session = await session_from(request)
    return JSONResponse({"user": session.user_id, "count": session.get("count", 0)})


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")  # never touches the session: no Redis call


def create_app(store: AsyncSessionStore | None = None, *, cookie: CookieOptions | None = None) -> Starlette:
    """The demo app, using ``store`` (default: :func:`store_from_env`), closed at shutdown."""
    store = store or store_from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await store.close()

    routes = [
        Route("/", home),
        Route("/login", login, methods=["POST"]),
        Route("/count", count, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/revoke-others", revoke_others, methods=["POST"]),
        Route("/whoami", whoami),
        Route("/health", health),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.store = store
    init_app(app, store=store, cookie=cookie or CookieOptions())
    return app


app = create_app()
