"""Type-checked (mypy --strict), never executed: the Flask adapter's public types."""

from __future__ import annotations

from flask import Flask, Response, request, session
from flask.sessions import SessionInterface, SessionMixin
from typing_extensions import assert_type

from hasession import CookieOptions, Session, SessionStore, StoreError
from hasession.flask import ErrorHook, FlaskSession, HASessionInterface, init_app, session_from


def on_error(exc: StoreError) -> Response:
    return Response("down", status=503)


def wiring(store: SessionStore) -> None:
    app = Flask(__name__)
    interface = init_app(app, store=store)
    assert_type(interface, HASessionInterface)
    init_app(app, store=store, cookie=CookieOptions(max_age=60), on_error=on_error)
    hook: ErrorHook = on_error
    init_app(app, store=store, on_error=hook)
    assert_type(interface.store, SessionStore)
    assert_type(interface.cookie, CookieOptions)
    manual: SessionInterface = HASessionInterface(store=store, cookie=CookieOptions())
    app.session_interface = manual

    init_app(app, store)  # type: ignore[call-arg]
    init_app(app, store=store, cookie="session")  # type: ignore[arg-type]
    init_app(app, store=store, on_error=lambda exc: "down")  # type: ignore[arg-type, return-value]


def view() -> dict[str, object]:
    current = session_from(request)
    assert_type(current, FlaskSession)
    typed: Session = current
    mixin: SessionMixin = current
    current.cycle_id()
    current.user_id = "alice"
    current.permanent = True
    current.modified = True
    assert_type(current.new, bool)
    assert_type(current.store_error, StoreError | None)
    assert_type(session.permanent, bool)  # flask.session stays a SessionMixin
    current.user_id = 42  # type: ignore[assignment]
    return {"user": typed.user_id, "keys": len(mixin)}
