"""What every framework adapter shares: the 503 answer, ``Vary``, cookie checks, logging.

Adapters translate between a framework and :class:`~hasession.Session`; everything they
would otherwise write four times lives here.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._config import CookieOptions
from ._exceptions import ConcurrentUpdate, InsecureCookieWarning, StoreError, StoreUnavailable
from ._session import Session, state_of

if TYPE_CHECKING:
    from .migrate import Migration

__all__ = [
    "Adoption",
    "CallSite",
    "ErrorAnswer",
    "SecureCookieOverHttp",
    "adopt",
    "adoptable",
    "answer_for",
    "check_cookie_options",
    "cookie_value",
    "log_store_error",
    "session_used",
    "vary_cookie",
]

log = logging.getLogger("hasession")

# An error answer depends on the session too (a request without the cookie may have succeeded).
_TEXT = (("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store"), ("Vary", "Cookie"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorAnswer:
    """A framework-neutral answer to a store error: status, headers and body.

    .. versionadded:: 0.1
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def answer_for(exc: StoreError) -> ErrorAnswer:
    """``409`` for a compare-and-set conflict; ``503`` + ``Retry-After`` for anything else; both
    with ``Cache-Control: no-store`` and ``Vary: Cookie``.

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
    state = state_of(session)
    return state.loaded and (state.sid is not None or state.accessed or state.modified)


def vary_cookie(existing: str | None) -> str:
    """A ``Vary`` header value that includes ``Cookie``."""
    if not existing:
        return "Cookie"
    parts = [p.strip() for p in existing.split(",")]
    return existing if any(p.lower() in ("cookie", "*") for p in parts) else f"{existing}, Cookie"


#: A value every cookie parser returns as is: no quotes, escapes, spaces or separators.
_PLAIN = re.compile(r"[A-Za-z0-9._-]*")


def cookie_value(header: str | None, name: str, parsed: Callable[[], Mapping[str, str]]) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, as the framework's own parser would find
    it (``parsed()``: the framework's cookies of the request), without parsing the whole header in
    the usual case: ``name`` appears once, as a cookie name, with a plain value, and nothing is
    quoted. Anything else (the name twice, quotes, tabs...) is left to ``parsed()``, so a request
    never gets a different cookie than the framework would give it.
    """
    if not header or name not in header:
        return None
    start = header.find(name + "=")
    if start < 0 or header.count(name) != 1 or '"' in header or "\\" in header:
        return parsed().get(name)
    before = header[:start].rstrip(" ")
    if before and before[-1] != ";":
        return parsed().get(name)
    end = header.find(";", start)
    value = header[start + len(name) + 1 : end if end >= 0 else len(header)].strip(" ")
    return value if _PLAIN.fullmatch(value) else parsed().get(name)


#: Packages whose frames are never the user's line: a site found inside them means the adapter
#: was built by the framework (Starlette builds its middleware at the first request).
_FRAMEWORKS = frozenset(
    {"starlette", "fastapi", "flask", "werkzeug", "aiohttp", "django", "anyio", "asyncio"}
)


@dataclass(frozen=True, slots=True)
class CallSite:
    """The line of user code that set something up: the line hasession's warnings name.

    .. versionadded:: 0.1
    """

    filename: str
    lineno: int
    module: str
    registry: dict[Any, Any]

    @classmethod
    def find(cls) -> CallSite | None:
        """The first caller outside hasession; ``None`` when that caller is a framework, not user code."""
        frame = sys._getframe(1)
        while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("hasession."):
            frame = frame.f_back
        module = str(frame.f_globals.get("__name__", ""))
        if module.partition(".")[0] in _FRAMEWORKS | {"hasession"}:
            return None
        registry = frame.f_globals.setdefault("__warningregistry__", {})
        return cls(frame.f_code.co_filename, frame.f_lineno, module, registry)

    def warn(self, message: str, category: type[Warning]) -> None:
        """Issue ``message`` as if this line had raised it (so filters and "once" apply there)."""
        warnings.warn_explicit(message, category, self.filename, self.lineno, self.module, self.registry)


def _warn(site: CallSite | None, message: str) -> None:
    if site is None:
        warnings.warn(message, InsecureCookieWarning, stacklevel=3)
    else:
        site.warn(message, InsecureCookieWarning)


def check_cookie_options(options: CookieOptions, site: CallSite | None = None) -> CookieOptions:
    """Warn about settings that are unsafe outside local development; return ``options``.

    The warning names ``site``, by default the first caller outside hasession.
    """
    if not options.secure:
        message = "hasession: the session cookie is not Secure; use this only in local development"
        _warn(site or CallSite.find(), message)
    return options


class SecureCookieOverHttp:
    """Warns once when a ``Secure`` session cookie is set in answer to a plain ``http`` request.

    Browsers (but on ``localhost``) and test clients do not send such a cookie back, so every
    request starts a new session, silently. ``site`` is the user's line to name.

    .. versionadded:: 0.1
    """

    __slots__ = ("_armed", "_site")

    def __init__(self, cookie: CookieOptions, site: CallSite | None) -> None:
        self._armed = cookie.secure
        self._site = site

    def check(self, scheme: str) -> None:
        """Call it for a response that sets the cookie, with the request's scheme."""
        if self._armed and scheme == "http":
            self._armed = False
            _warn(
                self._site,
                "hasession: a Secure session cookie was set in answer to a plain http:// request; "
                "clients do not send it back over http, so every request starts a new session. "
                "For local http use CookieOptions(secure=False); behind a proxy that terminates TLS, "
                "make the server trust its X-Forwarded-Proto header (e.g. uvicorn --proxy-headers "
                "--forwarded-allow-ips=...).",
            )


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
    if migration is None or state_of(session).sid is not None:
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
