"""FastAPI: the session as a dependency, on top of :mod:`hasession.starlette`.

.. code-block:: python

    app = FastAPI()
    init_app(app, store=AsyncSessionStore.from_url(url, secret_keys=[...]))

    @app.get("/whoami")
    async def whoami(session: SessionDep) -> dict[str, str | None]:
        return {"user": session.user_id}

Only endpoints that depend on :data:`SessionDep` (or call :func:`get_session`) read Redis.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from starlette.requests import Request

from . import AsyncSessionStore, CookieOptions, Session
from .migrate import Migration
from .starlette import ErrorHook, SessionMiddleware, session_from
from .starlette import init_app as starlette_init_app

__all__ = ["ErrorHook", "SessionDep", "SessionMiddleware", "get_session", "init_app", "session_from"]


async def get_session(request: Request) -> Session:
    """The request's session, loaded; a FastAPI dependency (a store error becomes a ``503``).

    .. versionadded:: 0.1
    """
    return await session_from(request)


#: ``session: SessionDep`` in an endpoint's parameters gives it the loaded session.
SessionDep = Annotated[Session, Depends(get_session)]


def init_app(
    app: FastAPI,
    *,
    store: AsyncSessionStore,
    cookie: CookieOptions = CookieOptions(),  # noqa: B008 - frozen value object
    on_error: ErrorHook | None = None,
    migrate_from: Migration | None = None,
) -> None:
    """Add :class:`~hasession.starlette.SessionMiddleware` to ``app`` (before it starts).

    See :func:`hasession.starlette.init_app`.

    .. versionadded:: 0.1
    """
    starlette_init_app(app, store=store, cookie=cookie, on_error=on_error, migrate_from=migrate_from)
