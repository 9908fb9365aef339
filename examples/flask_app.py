"""A Flask app whose sessions live in Redis through hasession.

Run it (``HASESSION_URL`` may also be ``redis+sentinel://...`` or ``redis+cluster://...``)::

    HASESSION_URL=redis://localhost:6379/0 HASESSION_SECRET=$(openssl rand -hex 32) \\
        flask --app examples/flask_app.py run

The session cookie is ``Secure``: browsers accept it on http://localhost, other hosts need https.
This example leaves out CSRF protection to stay short; a real app must not.
"""

from __future__ import annotations

import os

from flask import Flask, request, session

from hasession import SessionStore
from hasession.flask import init_app, session_from

DEV_SECRET = "dev-only-hasession-secret-do-not-deploy"


def store_from_env() -> SessionStore:
    """The store named by ``HASESSION_URL``, signing cookies with ``HASESSION_SECRET``."""
    url = os.environ.get("HASESSION_URL", "redis://localhost:6379/0")
    return SessionStore.from_url(url, secret_keys=os.environ.get("HASESSION_SECRET", DEV_SECRET))


def create_app(store: SessionStore) -> Flask:
    """The app, with its sessions in ``store``."""
    app = Flask(__name__)
    init_app(app, store=store)

    @app.get("/health")
    def health() -> dict[str, bool]:
        """Never touches the session, so it costs no Redis call (and works while Redis is down)."""
        return {"ok": True}

    @app.get("/whoami")
    def whoami() -> dict[str, object]:
        return {"user": session.get("user"), "count": session.get("count", 0)}

    @app.route("/count", methods=["GET", "POST"])
    def count() -> dict[str, int]:
        session["count"] = session.get("count", 0) + 1
        return {"count": session["count"]}

    @app.post("/login")
    def login() -> dict[str, str]:
        user = str(request.get_json()["user"])  # a real app checks a password here
        current = session_from(request)
        current.cycle_id()  # a new session id at log-in: no session fixation
        current.user_id = user  # indexes the session under its user, for revoke-others
        current["user"] = user
        return {"user": user}

    @app.post("/logout")
    def logout() -> dict[str, bool]:
        session_from(request).destroy()  # requests still in flight cannot bring it back
        return {"ok": True}

    @app.post("/revoke-others")
    def revoke_others() -> dict[str, int]:
        current = session_from(request)
        revoked = store.revoke_user(current.user_id, keep=current) if current.user_id else 0
        return {"revoked": revoked}

    return app


app = create_app(store_from_env())
