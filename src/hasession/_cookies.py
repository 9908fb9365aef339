"""``Set-Cookie`` headers, built once for every framework adapter. Pure."""

from __future__ import annotations

from ._config import CookieOptions
from ._results import SaveResult

__all__ = ["delete_cookie_header", "set_cookie_header"]

_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


def set_cookie_header(options: CookieOptions, result: SaveResult) -> str | None:
    """The ``Set-Cookie`` value a response needs after ``result``, or ``None`` for none.

    A cookie is sent when it changed (new session, new id, logout), and re-sent when it has a
    ``Max-Age`` and the store just refreshed the session's sliding lifetime.

    .. versionadded:: 0.1
    """
    if result.cookie == "delete":
        return delete_cookie_header(options)
    if result.value is not None and (
        result.cookie == "set" or (result.refresh and options.max_age is not None)
    ):
        return _render(options, result.value, options.max_age)
    return None


def delete_cookie_header(options: CookieOptions) -> str:
    """A ``Set-Cookie`` value that removes the session cookie.

    .. versionadded:: 0.1
    """
    return _render(options, "", 0) + f"; Expires={_EXPIRED}"


def _render(options: CookieOptions, value: str, max_age: int | None) -> str:
    parts = [f"{options.name}={value}", f"Path={options.path}"]
    if options.domain:
        parts.append(f"Domain={options.domain}")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if options.secure:
        parts.append("Secure")
    if options.httponly:
        parts.append("HttpOnly")
    parts.append(f"SameSite={options.samesite.capitalize()}")
    if options.partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)
