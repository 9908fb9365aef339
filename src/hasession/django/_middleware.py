"""Django's ``SessionMiddleware``, plus the 503 answer to a store that stays unreachable."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.middleware import (  # type: ignore[import-untyped]
    SessionMiddleware as DjangoSessionMiddleware,
)
from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]
from django.utils.cache import patch_vary_headers  # type: ignore[import-untyped]

from .. import StoreError
from .._web import answer_for, log_store_error

__all__ = ["SessionMiddleware"]


class SessionMiddleware(DjangoSessionMiddleware):  # type: ignore[misc]
    """Django's session middleware, except that a :class:`~hasession.StoreError` answers ``503`` +
    ``Retry-After`` (``409`` for a compare-and-set conflict) instead of a ``500`` with a traceback.

    Use it in place of ``django.contrib.sessions.middleware.SessionMiddleware``.

    .. versionadded:: 0.1
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A store error raised by a view (e.g. by the session's first load)."""
        return _answer(request, exception) if isinstance(exception, StoreError) else None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Save as Django does; a store error while saving, or one that another middleware let
        become a ``500``, gets the 503 answer."""
        try:
            response = super().process_response(request, response)
        except StoreError as exc:
            return _answer(request, exc)
        error: Any = getattr(getattr(request, "session", None), "store_error", None)
        if response.status_code == 500 and isinstance(error, StoreError):
            return _answer(request, error)
        return response


def _answer(request: HttpRequest, exc: StoreError) -> HttpResponse:
    log_store_error(exc, request.path)
    answer = answer_for(exc)
    response = HttpResponse(answer.body, status=answer.status, headers=dict(answer.headers))
    patch_vary_headers(response, ("Cookie",))
    return response
