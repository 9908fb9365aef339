"""aiohttp: a session middleware, ``get_session(request)`` and a typed app key for the store.

.. code-block:: python

    app = web.Application()
    setup(app, AsyncSessionStore.from_url(url, secret_keys=[...]))

    async def whoami(request: web.Request) -> web.Response:
        session = await get_session(request)  # Redis is read here, once
        return web.json_response({"user": session.user_id})

The session is saved after the handler returns (or raises an ``HTTPException``), before the
response is sent. A response the handler already prepared (``StreamResponse.prepare()``,
WebSockets) has sent its headers: the session is still saved, but its cookie cannot change, so
call :func:`get_session` and change the session *before* preparing such a response.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from . import AsyncSessionStore, CookieOptions, Session, StoreError, set_cookie_header
from ._web import (
    Adoption,
    CallSite,
    SecureCookieOverHttp,
    adopt,
    adoptable,
    answer_for,
    check_cookie_options,
    cookie_value,
    log_store_error,
    session_used,
    vary_cookie,
)
from .migrate import Migration

__all__ = [
    "STORE_KEY",
    "ErrorHook",
    "SessionMiddleware",
    "get_session",
    "init_app",
    "session_from",
    "setup",
]

log = logging.getLogger("hasession")

#: The app's session store: ``request.app[STORE_KEY]`` (typed as :class:`~hasession.AsyncSessionStore`).
STORE_KEY = web.AppKey("hasession_store", AsyncSessionStore)
#: Answers a request whose session could not be loaded or saved (default: ``503`` + ``Retry-After``).
ErrorHook: TypeAlias = Callable[[StoreError, web.Request], web.StreamResponse | Awaitable[web.StreamResponse]]

_SESSION = web.RequestKey("hasession_session", Session)
_STORE = web.RequestKey("hasession_store", AsyncSessionStore)
_ADOPTION = web.RequestKey("hasession_adoption", Adoption)


class SessionMiddleware:
    """An aiohttp middleware that gives each request a lazily loaded session and saves it.

    A handler that never awaits :func:`get_session` costs no Redis call. A store error while
    loading or saving becomes a ``503`` with ``Retry-After`` (``409`` for a compare-and-set
    conflict), or whatever ``on_error`` returns.

    .. versionadded:: 0.1
    """

    __middleware_version__ = 1  # what ``@web.middleware`` marks: a new-style middleware

    def __init__(
        self,
        store: AsyncSessionStore,
        *,
        cookie: CookieOptions = CookieOptions(),  # noqa: B008 - frozen value object
        on_error: ErrorHook | None = None,
        migrate_from: Migration | None = None,
    ) -> None:
        #: The session store.
        self.store = store
        origin = CallSite.find() or store.origin
        #: The cookie settings.
        self.cookie = check_cookie_options(cookie, origin)
        self.on_error = on_error
        self.over_http = SecureCookieOverHttp(cookie, origin)
        #: Copies sessions from another library's store (see :mod:`hasession.migrate`).
        self.migrate_from = migrate_from

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get(hdrs.COOKIE)  # what request.cookies parses, one cookie of it here
        session = self.store.open(cookie_value(header, self.cookie.name, lambda: request.cookies))
        request[_SESSION] = session
        request[_STORE] = self.store
        if self.migrate_from and (old := adoptable(session, request.cookies, self.migrate_from)):
            adoption = await asyncio.to_thread(adopt, session, old, self.migrate_from)
            if adoption is not None:
                request[_ADOPTION] = adoption
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # a raised redirect after log-in must save the session too
                if session_used(session):
                    await self._commit(request, session, exc)
                raise
            if session_used(session):
                await self._commit(request, session, response)
            return response
        except StoreError as exc:
            log_store_error(exc, f"{request.method} {request.path}")
            return await self._error_response(exc, request)

    async def _commit(self, request: web.Request, session: Session, response: web.StreamResponse) -> None:
        if response.prepared:
            await self._commit_late(session)
            return
        header = set_cookie_header(self.cookie, await self.store.save(session))
        headers = response.headers
        headers[hdrs.VARY] = vary_cookie(headers.get(hdrs.VARY))
        if header is not None:
            headers.add(hdrs.SET_COOKIE, header)
            self.over_http.check(request.scheme)
        if self.migrate_from is None:
            return
        adoption = request.get(_ADOPTION)
        if adoption is not None and (expire := await asyncio.to_thread(adoption.finish, self.cookie.name)):
            headers.add(hdrs.SET_COOKIE, expire)

    async def _commit_late(self, session: Session) -> None:
        """Save after the headers went out: nothing can reach the client any more, so only log."""
        try:
            header = set_cookie_header(self.cookie, await self.store.save(session))
        except StoreError as exc:
            log_store_error(exc, "a response prepared by its handler")
            return
        if header is not None:
            log.warning("hasession: session cookie not sent: the handler prepared its response first")

    async def _error_response(self, exc: StoreError, request: web.Request) -> web.StreamResponse:
        if self.on_error is None:
            answer = answer_for(exc)
            return web.Response(body=answer.body, status=answer.status, headers=dict(answer.headers))
        response = self.on_error(exc, request)
        return await response if inspect.isawaitable(response) else response


async def session_from(request: web.Request) -> Session:
    """The request's session, loaded (one Redis round trip the first time, none after).

    :raises RuntimeError: when the middleware is not installed (see :func:`setup`).
    :raises hasession.StoreError: the middleware turns it into a ``503``.

    .. versionadded:: 0.1
    """
    if _SESSION not in request:
        raise RuntimeError("hasession.aiohttp is not set up: call hasession.aiohttp.setup(app, store)")
    session = request[_SESSION]
    await request[_STORE].load_into(session)
    return session


#: The aiohttp-session spelling of :func:`session_from`.
get_session = session_from


def setup(
    app: web.Application,
    store: AsyncSessionStore,
    *,
    cookie: CookieOptions = CookieOptions(),  # noqa: B008
    on_error: ErrorHook | None = None,
    migrate_from: Migration | None = None,
) -> None:
    """Install :class:`SessionMiddleware` and keep ``store`` in ``app[STORE_KEY]``.

    The store stays the caller's: close it in ``app.on_cleanup`` if the app created it.
    ``migrate_from`` copies sessions from another library's store (see :mod:`hasession.migrate`).

    .. versionadded:: 0.1
    """
    app[STORE_KEY] = store
    app.middlewares.append(
        SessionMiddleware(store, cookie=cookie, on_error=on_error, migrate_from=migrate_from)
    )


def init_app(
    app: web.Application,
    *,
    store: AsyncSessionStore,
    cookie: CookieOptions = CookieOptions(),  # noqa: B008 - frozen value object
    on_error: ErrorHook | None = None,
    migrate_from: Migration | None = None,
) -> None:
    """:func:`setup` with the keyword-only signature every hasession adapter shares.

    .. versionadded:: 0.1
    """
    setup(app, store, cookie=cookie, on_error=on_error, migrate_from=migrate_from)
