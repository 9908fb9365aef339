"""What every framework adapter shares: the 503 answer, ``Vary``, cookie checks, logging.

Adapters translate between a framework and :class:`~hasession.Session`; everything they
would otherwise write four times lives here.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._config import CookieOptions
from ._exceptions import ConcurrentUpdate, InsecureCookieWarning, StoreError, StoreUnavailable
from ._session import Session

if TYPE_CHECKING:
    from .migrate import Migration

__all__ = [
    "Adoption",
    "ErrorAnswer",
    "adopt",
    "adoptable",
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


# -- migration from another library (hasession.migrate) ------------------------------------------


@dataclass(frozen=True, slots=True)
class Adoption:
    """A session whose data this request copied from another library's store."""

    migration: Migration
    old_cookie: str

    def finish(self, cookie_name: str) -> str | None:
        """Once the new session is saved: delete the old one if configured, and return the
        ``Set-Cookie`` value that expires the old cookie (None if hasession reuses its name)."""
        if self.migration.delete_old:
            self.migration.reader.delete(self.old_cookie)
        return self.migration.expire_old_cookie(cookie_name)


def adoptable(session: Session, cookies: Mapping[str, str], migration: Migration | None) -> str | None:
    """The old library's cookie, when this request should try a migration (no I/O): the request
    has no valid hasession cookie and does carry the old one."""
    if migration is None or session.sid is not None:
        return None
    return cookies.get(migration.reader.cookie_name) or None


def adopt(session: Session, old_cookie: str, migration: Migration) -> Adoption | None:
    """Copy the old session's data into the new ``session`` (blocking I/O: async adapters run
    this in a thread). The session is then modified, so the adapter saves it and sets the
    hasession cookie, and later requests no longer try the old store."""
    try:
        data = migration.reader.read(old_cookie)
    except Exception as exc:  # the old store's errors (its client, its format) must not fail the request
        log.error("hasession: could not migrate a session from %s: %r", type(migration.reader).__name__, exc)
        return None
    if not data:
        return None
    session.update(data)
    if migration.user_id is not None:
        session.user_id = migration.user_id(data)
    log.info("hasession: migrated a session from %s", type(migration.reader).__name__)
    return Adoption(migration, old_cookie)
