"""Views: an anonymous counter, log-in with a key cycle, log-out, and "log out my other devices"."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from hasession.django import get_store, session_from


def health(request: HttpRequest) -> JsonResponse:
    """Never touches the session, so it costs no Redis call (and works while Redis is down)."""
    return JsonResponse({"ok": True})


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.session.get("user"), "count": request.session.get("count", 0)})


@require_http_methods(["GET", "POST"])
def count(request: HttpRequest) -> JsonResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return JsonResponse({"count": request.session["count"]})


@require_POST
def login(request: HttpRequest) -> JsonResponse:
    user = str(json.loads(request.body)["user"])  # a real app checks a password here
    request.session.cycle_key()  # a new session key at log-in: no session fixation
    request.session.user_id = user  # indexes the session under its user, for revoke-others
    request.session["user"] = user
    return JsonResponse({"user": user})


@require_POST
def logout(request: HttpRequest) -> JsonResponse:
    request.session.flush()  # deleted for good: requests still in flight cannot bring it back
    return JsonResponse({"ok": True})


@require_POST
def revoke_others(request: HttpRequest) -> JsonResponse:
    session = session_from(request)
    revoked = get_store().revoke_user(session.user_id, keep=session) if session.user_id else 0
    return JsonResponse({"revoked": revoked})
