"""What every framework adapter shares: the 503 answer, ``Vary``, cookie checks, logging.

Adapters translate between a framework and :class:`~hasession.Session`; everything they
would otherwise write four times lives here.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

from ._config import CookieOptions
from ._exceptions import ConcurrentUpdate, InsecureCookieWarning, StoreError, StoreUnavailable
from ._session import Session

__all__ = [
    "ErrorAnswer",
    "answer_for",
    "check_cookie_options",
    "log_store_error",
    "session_used",
    "vary_cookie",
]

log = logging.getLogger("hasession")

_TEXT = (("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorAnswer:
    """A framework-neutral answer to a store error: status, headers and body.

    .. versionadded:: 0.1
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def answer_for(exc: StoreError) -> ErrorAnswer:
    """``409`` for a compare-and-set conflict; ``503`` + ``Retry-After`` for anything else.

    A store that stayed unreachable through the hold budget, or that answers with an error
    no retry can fix, is a service problem: never a ``500`` with a traceback.
    """
    if isinstance(exc, ConcurrentUpdate):
        return ErrorAnswer(status=409, headers=_TEXT, body=b"Session changed concurrently; retry.\n")
    retry_after = exc.retry_after if isinstance(exc, StoreUnavailable) else 5
    body = b"The service is briefly unavailable. Please retry in a few seconds.\n"
    return ErrorAnswer(status=503, headers=(("Retry-After", str(retry_after)), *_TEXT), body=body)


def log_store_error(exc: StoreError, where: str) -> None:
    """Log a request answered by :func:`answer_for` (one line, no traceback noise)."""
    attempts = len(exc.attempts) if isinstance(exc, StoreUnavailable) else 0
    log.error("hasession: session store error for %s after %d attempts: %r", where, attempts, exc)


def session_used(session: Session) -> bool:
    """Whether the request loaded or touched its session, so the response depends on it (and is
    saved, and varies on ``Cookie``)."""
    return session.loaded and (session.sid is not None or session.accessed or session.modified)


def vary_cookie(existing: str | None) -> str:
    """A ``Vary`` header value that includes ``Cookie``."""
    if not existing:
        return "Cookie"
    parts = [p.strip() for p in existing.split(",")]
    return existing if any(p.lower() in ("cookie", "*") for p in parts) else f"{existing}, Cookie"


def check_cookie_options(options: CookieOptions) -> CookieOptions:
    """Warn about settings that are unsafe outside local development; return ``options``."""
    if not options.secure:
        warnings.warn(
            "hasession: the session cookie is not Secure; use this only in local development",
            InsecureCookieWarning,
            stacklevel=3,
        )
    return options
