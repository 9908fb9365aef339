"""Starlette (and any ASGI app): a pure ASGI :class:`SessionMiddleware`.

.. code-block:: python

    store = AsyncSessionStore.from_url(url, secret_keys=[...])
    app = Starlette(routes=[...], middleware=[Middleware(SessionMiddleware, store=store)])

    async def whoami(request: Request) -> Response:
        session = await session_from(request)  # the only await; Redis is read here, once
        return JSONResponse({"user": session.user_id})

``request.session`` is the :class:`~hasession.Session` too, but it must be loaded with
``await session_from(request)`` before use (an async store cannot load on first access).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

__all__ = ["ErrorHook", "SessionMiddleware", "init_app", "session_from"]

#: Answers a request whose session could not be loaded or saved (default: :func:`hasession._web.answer_for`).
ErrorHook: TypeAlias = Callable[[StoreError, Request], Response | Awaitable[Response]]

_STORE = "hasession.store"


class SessionMiddleware:
    """Puts a lazily loaded :class:`~hasession.Session` in ``scope["session"]`` and saves it.

    A request that never awaits :func:`session_from` costs no Redis call, and works while
    Redis is down. A loaded session is saved when the response starts; ``Set-Cookie`` is added
    when the cookie changed and ``Vary: Cookie`` whenever the session was used. A
    :class:`~hasession.StoreError` while loading or saving becomes a ``503`` with
    ``Retry-After`` (``409`` for a compare-and-set conflict), or whatever ``on_error`` returns.
    Changes made after the response started (streaming) or in WebSocket handlers are not saved.

    :param app: the ASGI app to wrap.
    :param store: the session store.
    :param cookie: how the session cookie is written.
    :param eager: load the session before the app runs when the request carries a valid cookie.
    :param on_error: build the response for a store error instead of the default ``503``.
    :param migrate_from: copy sessions from another library's store (see :mod:`hasession.migrate`).
    :param origin: the line of user code that :class:`~hasession.InsecureCookieWarning` names;
        default: the caller, or, when Starlette builds the middleware, the line that made ``store``.

    A ``Secure`` cookie set in answer to a plain ``http`` request (local development, a test
    client on ``http://``) is never sent back, so every request would start a new session: the
    first time it happens, an :class:`~hasession.InsecureCookieWarning` says how to fix it.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: AsyncSessionStore,
        cookie: CookieOptions = CookieOptions(),  # noqa: B008 - frozen value object
        eager: bool = False,
        on_error: ErrorHook | None = None,
        migrate_from: Migration | None = None,
        origin: CallSite | None = None,
    ) -> None:
        self.app = app
        #: The session store.
        self.store = store
        origin = origin or CallSite.find() or store.origin
        #: The cookie settings.
        self.cookie = check_cookie_options(cookie, origin)
        self.eager = eager
        self.on_error = on_error
        self.migrate_from = migrate_from
        self.over_http = SecureCookieOverHttp(cookie, origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        session = self.store.open(_cookie(scope, self.cookie.name))
        scope["session"], scope[_STORE] = session, self.store
        if scope["type"] == "http":
            exchange = _Exchange(self, scope, receive, send, session)
            cookies = HTTPConnection(scope).cookies if self.migrate_from else {}
            if self.migrate_from and (old := adoptable(session, cookies, self.migrate_from)):
                exchange.adoption = await anyio.to_thread.run_sync(adopt, session, old, self.migrate_from)
            await exchange.run()
        else:  # WebSocket: the session can be read (after session_from), but nothing is saved
            await self.app(scope, receive, send)


def _cookie(scope: Scope, name: str) -> str | None:
    """``HTTPConnection(scope).cookies.get(name)``, without parsing every cookie when there is one
    ``Cookie`` header (Starlette merges several; so does this, by asking Starlette)."""
    found: bytes | None = None
    for key, value in scope["headers"]:
        if key == b"cookie":
            if found is not None:
                return HTTPConnection(scope).cookies.get(name)
            found = value
    if found is None:
        return None
    header = found.decode("latin-1")
    return cookie_value(header, name, lambda: HTTPConnection(scope).cookies)


class _Exchange:
    """One HTTP request going through :class:`SessionMiddleware`."""

    def __init__(
        self, mw: SessionMiddleware, scope: Scope, receive: Receive, send: Send, session: Session
    ) -> None:
        self.mw, self.scope, self.receive, self.send, self.session = mw, scope, receive, send, session
        self.started = False  # the response start went out (ours or the app's)
        self.replaced = False  # a save failed: the app's response was swapped for the error answer
        self.adoption: Adoption | None = None  # the session was copied from another library's

    async def run(self) -> None:
        try:
            if self.mw.eager:
                await self.mw.store.load_into(self.session)
            await self.mw.app(self.scope, self.receive, self.send_wrapper)
        except StoreError as exc:
            if self.started:  # nothing sensible left to send: let the server close the connection
                raise
            await self.fail(exc)

    async def send_wrapper(self, message: Message) -> None:
        if not self.replaced and message["type"] == "http.response.start":
            try:
                await self.commit(message)
            except StoreError as exc:
                await self.fail(exc)
            self.started = True
        if not self.replaced:
            await self.send(message)

    async def commit(self, message: Message) -> None:
        if not session_used(self.session):
            return
        header = set_cookie_header(self.mw.cookie, await self.mw.store.save(self.session))
        headers = MutableHeaders(scope=message)
        headers["Vary"] = vary_cookie(headers.get("Vary"))
        if header is not None:
            headers.append("Set-Cookie", header)
            self.mw.over_http.check(self.scope.get("scheme", "http"))
        if self.adoption is not None:
            expire = await anyio.to_thread.run_sync(self.adoption.finish, self.mw.cookie.name)
            if expire is not None:
                headers.append("Set-Cookie", expire)

    async def fail(self, exc: StoreError) -> None:
        log_store_error(exc, f"{self.scope['method']} {self.scope['path']}")
        self.started = self.replaced = True
        response = await _error_response(exc, Request(self.scope, self.receive), self.mw.on_error)
        await response(self.scope, self.receive, self.send)


async def _error_response(exc: StoreError, request: Request, on_error: ErrorHook | None) -> Response:
    if on_error is None:
        answer = answer_for(exc)
        return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))
    response = on_error(exc, request)
    return await response if inspect.isawaitable(response) else response


async def session_from(request: HTTPConnection) -> Session:
    """The request's session, loaded (one Redis round trip the first time, none after).

    :raises RuntimeError: when :class:`SessionMiddleware` is not installed.
    :raises hasession.StoreError: the middleware turns it into a ``503``.

    .. versionadded:: 0.1
    """
    if _STORE not in request.scope:
        raise RuntimeError("hasession.starlette.SessionMiddleware is not installed")
    session: Session = request.scope["session"]
    await request.scope[_STORE].load_into(session)
    return session


def init_app(
    app: Starlette,
    *,
    store: AsyncSessionStore,
    cookie: CookieOptions = CookieOptions(),  # noqa: B008 - frozen value object
    on_error: ErrorHook | None = None,
    migrate_from: Migration | None = None,
) -> None:
    """Add :class:`SessionMiddleware` to ``app`` (before it starts).

    :param store: the (async) store; the app owns it and should ``await store.close()`` at shutdown.
    :param cookie: how the session cookie is written; warns if it is not ``Secure``, or if it
        is ``Secure`` and set over plain ``http`` (the warning names the line that called this).
    :param on_error: builds the response to a store error instead of the default 503/409 answer.
    :param migrate_from: copy sessions from another library's store (see :mod:`hasession.migrate`).

    .. versionadded:: 0.1
    """
    origin = CallSite.find()
    app.add_middleware(
        SessionMiddleware,
        store=store,
        cookie=cookie,
        on_error=on_error,
        migrate_from=migrate_from,
        origin=origin,
    )
