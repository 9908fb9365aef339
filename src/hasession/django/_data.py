"""The hasession session behind a Django session."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from django.contrib.sessions.backends.base import UpdateError  # type: ignore[import-untyped]
from django.contrib.sessions.exceptions import SessionInterrupted  # type: ignore[import-untyped]

from .. import AsyncSessionStore, Session, SessionStore, StoreError
from .._session import state_of

__all__ = ["KEPT", "SessionData", "interrupted", "recording"]

#: Field that keeps a session stored while it holds no data (Django stores empty sessions; hasession
#: alone does not). It is never shown to Django.
KEPT = "_hasession.kept"


class SessionData(Session):
    """The data of one Django session: a hasession session that never shows the ``KEPT`` field."""

    @classmethod
    def named(cls, store: SessionStore | AsyncSessionStore, key: str | None) -> SessionData:
        """The session ``key`` names, not loaded (no I/O; a forged or malformed key names none)."""
        return store.open(key, cls=cls)

    @classmethod
    def read(cls, store: SessionStore, key: str | None) -> SessionData:
        """The session ``key`` names, loaded (no I/O for a forged, malformed or missing key)."""
        data = cls.named(store, key)
        store.load_into(data)
        state_of(data).hide(KEPT)
        return data

    @classmethod
    async def aread(cls, store: AsyncSessionStore, key: str | None) -> SessionData:
        data = cls.named(store, key)
        await store.load_into(data)
        state_of(data).hide(KEPT)
        return data

    @classmethod
    def copy_of(cls, data: Mapping[str, Any]) -> SessionData:
        """A new, unsaved session holding ``data`` and its user."""
        new = cls()
        new.update(data)
        if isinstance(data, Session):
            new.user_id = data.user_id
        return new


class recording:  # a class: cheaper than a generator context manager, and used on every load
    """Note a store error on ``owner`` (``owner.store_error``) on its way up."""

    __slots__ = ("owner",)

    def __init__(self, owner: Any) -> None:
        self.owner = owner

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> Literal[False]:
        if isinstance(exc, StoreError):
            self.owner.store_error = exc
        return False


@contextlib.contextmanager
def interrupted() -> Iterator[None]:
    """A key cycle that finds its session deleted (a concurrent logout or revoke) is a 400, as in Django."""
    try:
        yield
    except UpdateError as exc:
        raise SessionInterrupted("The session was deleted before its key could be cycled.") from exc
