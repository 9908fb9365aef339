"""Flask integration: ``flask.session`` becomes a hasession :class:`~hasession.Session`.

::

    from flask import Flask
    from hasession import SessionStore
    from hasession.flask import init_app

    app = Flask(__name__)
    init_app(app, store=SessionStore.from_url("redis://localhost:6379/0", secret_keys=[KEY]))

The session loads on first access (a view that ignores it costs no Redis call) and a save writes only
what changed. A store that stays unreachable through the hold budget answers ``503`` with
``Retry-After`` (``409`` for a compare-and-set conflict), never a ``500``.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from flask import Flask, Request, Response
from flask.globals import request_ctx
from flask.sessions import SessionInterface, SessionMixin

from . import CookieOptions, Session, SessionStore, StoreError, set_cookie_header
from ._web import (
    Adoption,
    adopt,
    adoptable,
    answer_for,
    check_cookie_options,
    cookie_value,
    log_store_error,
    vary_cookie,
)
from .migrate import Migration

__all__ = ["ErrorHook", "FlaskSession", "HASessionInterface", "init_app", "session_from"]

#: Builds the response to a store error (the default is :func:`hasession._web.answer_for`'s 503/409).
ErrorHook = Callable[[StoreError], Response]


# Flask declares ``new = False`` as a plain attribute; hasession computes it (read-only).
class FlaskSession(Session, SessionMixin):  # type: ignore[override]
    """``flask.session``: a hasession :class:`~hasession.Session` that is also Flask's ``SessionMixin``.

    ``new``, ``modified`` and ``accessed`` are hasession's own. Use :func:`session_from` to get it
    typed (``flask.session`` is typed as ``SessionMixin``).

    .. versionadded:: 0.1
    """

    #: Flask's "permanent session" flag. It is kept for this request only, never in the session data:
    #: when true and ``CookieOptions.max_age`` is ``None``, the cookie this response sends gets
    #: ``Max-Age = app.permanent_session_lifetime``.
    permanent: bool = False
    #: The store error this request was answered with; the session is then not saved.
    store_error: StoreError | None = None
    #: Set when this request copied the session from another library (``migrate_from``).
    adoption: Adoption | None = None

    @property
    def modified(self) -> bool:
        """Whether a save has something to write.

        Assigning to it (``session.modified = True``, a Flask habit) is accepted and ignored:
        hasession notices values mutated in place by itself.
        """
        return super().modified

    @modified.setter
    def modified(self, value: bool) -> None:
        return None


class HASessionInterface(SessionInterface):
    """Flask's ``SessionInterface`` on a hasession store. Install it with :func:`init_app`.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        store: SessionStore,
        cookie: CookieOptions,
        on_error: ErrorHook | None = None,
        migrate_from: Migration | None = None,
    ) -> None:
        #: The store sessions live in.
        self.store = store
        #: How the session cookie is written (Flask's ``SESSION_COOKIE_*`` settings are not used).
        self.cookie = cookie
        #: Builds the response to a store error, instead of the default 503/409 answer.
        self.on_error = on_error
        #: Copies sessions from another library's store (see :mod:`hasession.migrate`).
        self.migrate_from = migrate_from

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        """The request's session, not loaded yet: no I/O here (a bad cookie gives a new session)."""
        cookie = cookie_value(request.environ.get("HTTP_COOKIE"), self.cookie.name, lambda: request.cookies)
        session = self.store.open(cookie, cls=FlaskSession)
        if self.migrate_from and (old := adoptable(session, request.cookies, self.migrate_from)):
            session.adoption = adopt(session, old, self.migrate_from)
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Write what changed, send the cookie if it changed, add ``Vary: Cookie`` if the session was read.

        Flask's error handlers do not see exceptions raised here, so a store error rewrites ``response``.
        """
        assert isinstance(session, FlaskSession), "open_session() made every session"
        if session.loaded and session.store_error is None:
            self._save(app, session, response)
        if session.accessed:
            response.headers["Vary"] = vary_cookie(response.headers.get("Vary"))

    def handle_store_error(self, exc: StoreError) -> Response:
        """Flask error handler for a store error raised in a view (e.g. by the session's first load)."""
        session = request_ctx.session
        if isinstance(session, FlaskSession):
            session.store_error = exc
        return self.answer(exc, request_ctx.request.path)

    def answer(self, exc: StoreError, where: str) -> Response:
        """The response to a store error: the ``on_error`` hook's, else 503 + ``Retry-After`` or 409."""
        log_store_error(exc, where)
        if self.on_error is not None:
            return self.on_error(exc)
        answer = answer_for(exc)
        return Response(answer.body, status=answer.status, headers=list(answer.headers))

    def _save(self, app: Flask, session: FlaskSession, response: Response) -> None:
        try:
            result = self.store.save(session)
        except StoreError as exc:
            _overwrite(response, self.answer(exc, request_ctx.request.path))
            return
        header = set_cookie_header(self._cookie_for(app, session), result)
        if header is not None:
            response.headers.add("Set-Cookie", header)
        if session.adoption is not None and (expire := session.adoption.finish(self.cookie.name)):
            response.headers.add("Set-Cookie", expire)

    def _cookie_for(self, app: Flask, session: FlaskSession) -> CookieOptions:
        if session.permanent and self.cookie.max_age is None:
            return replace(self.cookie, max_age=int(app.permanent_session_lifetime.total_seconds()))
        return self.cookie


def init_app(
    app: Flask,
    *,
    store: SessionStore,
    cookie: CookieOptions = CookieOptions(),  # noqa: B008 - frozen, so one shared default is safe
    on_error: ErrorHook | None = None,
    migrate_from: Migration | None = None,
) -> HASessionInterface:
    """Keep ``app``'s sessions in ``store``: installs a :class:`HASessionInterface` and a store-error handler.

    :param store: the (sync) store; the app owns it and should ``close()`` it at exit.
    :param cookie: how the session cookie is written; warns if it is not ``Secure``.
    :param on_error: builds the response to a store error instead of the default 503/409 answer.
    :param migrate_from: copy sessions from another library's store (see :mod:`hasession.migrate`).

    .. versionadded:: 0.1
    """
    interface = HASessionInterface(
        store=store, cookie=check_cookie_options(cookie), on_error=on_error, migrate_from=migrate_from
    )
    app.session_interface = interface
    app.register_error_handler(StoreError, interface.handle_store_error)
    return interface


def session_from(request: Request) -> FlaskSession:
    """The hasession session of ``request``, typed. Flask keeps it in the context of the request being
    handled, so ``request`` must be that request (``flask.request``).

    .. versionadded:: 0.1
    """
    session = request_ctx.session
    if not isinstance(session, FlaskSession):
        raise RuntimeError("hasession.flask.init_app() was not called for this app")
    return session


def _overwrite(response: Response, answer: Response) -> None:
    """Turn ``response`` into ``answer`` (save_session cannot return a new response)."""
    response.status_code = answer.status_code
    response.headers = answer.headers.copy()
    response.set_data(answer.get_data())
