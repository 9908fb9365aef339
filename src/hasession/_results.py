"""What store operations return to callers: the cookie action of a save, a user's sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["KEEP", "SaveResult", "SessionInfo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveResult:
    """What the response must do with the cookie after a save.

    .. versionadded:: 0.1
    """

    #: ``"set"``: send ``value``; ``"delete"``: expire the cookie; ``"keep"``: the browser's
    #: cookie is still right.
    cookie: Literal["set", "delete", "keep"]
    #: The signed cookie value of the stored session (also with ``"keep"``).
    value: str | None = None
    #: The sliding TTL was refreshed: a cookie with ``Max-Age`` should be re-sent.
    refresh: bool = False
    #: Whether Redis was written.
    wrote: bool = False


KEEP = SaveResult(cookie="keep")


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionInfo:
    """One session of a user, as listed by ``sessions_of``: safe to show, cannot log anyone in.

    .. versionadded:: 0.1
    """

    public_id: str
    created_ms: int
    last_seen_ms: int
    expires_ms: int
