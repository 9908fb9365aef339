"""Django's ``SessionBase`` on a hasession store: ``SESSION_ENGINE = "hasession.django"``.

Django's ``session_key`` is hasession's signed cookie value. The data Django caches is a hasession
:class:`~hasession.Session`, so a save writes only what the request changed, and an unknown,
forged or expired key is never adopted (a new session gets a new, server-made key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import (  # type: ignore[import-untyped]
    CreateError,
    SessionBase,
    UpdateError,
)

from .. import SaveResult, StoreError
from .._web import Adoption, adopt
from ._data import KEPT, SessionData, interrupted, recording
from ._stores import get_async_store, get_store, migration

__all__ = ["SessionStore"]


class SessionStore(SessionBase):  # type: ignore[misc]
    """Django's session API on the process-wide hasession store (see ``settings.HASESSION``).

    Sync methods use :func:`~hasession.django.get_store`, ``a``-prefixed ones the event loop's
    :func:`~hasession.django.get_async_store`. ``user_id`` is hasession's (it indexes the session
    for ``revoke_user``).

    .. versionadded:: 0.1
    """

    # Declared for mypy only (Django is untyped): the key Django validates, and its cached data.
    _session_key: str | None
    _session_cache: Mapping[str, Any]

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        # The key this object last stored: if it has vanished by the next save, that save raises
        # UpdateError (a concurrent logout must not be undone) instead of creating a session.
        self._stored_key: str | None = None
        #: The store error this object met, if any: :class:`SessionMiddleware` answers 503 for it.
        self.store_error: StoreError | None = None
        #: Set when the key was the previous engine's and its data was copied (``MIGRATE_FROM``).
        self.adoption: Adoption | None = None

    @property
    def user_id(self) -> str | None:
        """The user this session belongs to (hasession's index for ``revoke_user``)."""
        return self._data().user_id

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self._data().user_id = value

    def load(self) -> SessionData:
        key = self.session_key
        return self._migrated(self._loaded(self._read(key)), key)

    async def aload(self) -> SessionData:
        key = self.session_key
        data = self._loaded(await self._aread(key))
        if key is None or not data.new or migration() is None:
            return data
        return await sync_to_async(self._migrated)(data, key)  # the old engine's reader blocks

    def exists(self, session_key: str | None) -> bool:
        return self._live(self._read(session_key))

    async def aexists(self, session_key: str | None) -> bool:
        return self._live(await self._aread(session_key))

    def save(self, must_create: bool = False) -> None:
        data = self._to_save(self._session, must_create)
        with recording(self):
            self._saved(get_store().save(data))
        self._retire_old()

    async def asave(self, must_create: bool = False) -> None:
        data = self._to_save(await self._aget_session(), must_create)
        with recording(self):
            self._saved(await get_async_store().save(data))
        if self.adoption is not None:
            await sync_to_async(self._retire_old)()

    def create(self) -> None:
        self._renew()
        self.save(must_create=True)
        self.modified = True

    async def acreate(self) -> None:
        self._renew()
        await self.asave(must_create=True)
        self.modified = True

    def cycle_key(self) -> None:
        """A new key for the same data, in one atomic step; the old key stops working at once."""
        if (data := self._data()).new:
            self.create()
        else:
            data.cycle_id()
            with interrupted():
                self.save()
            self.modified = True

    async def acycle_key(self) -> None:
        if (data := await self._adata()).new:
            await self.acreate()
        else:
            data.cycle_id()
            with interrupted():
                await self.asave()
            self.modified = True

    def delete(self, session_key: str | None = None) -> None:
        data = self._read(self.session_key if session_key is None else session_key)
        data.destroy()  # no key, or an unknown one: nothing to write
        with recording(self):
            get_store().save(data)

    async def adelete(self, session_key: str | None = None) -> None:
        data = await self._aread(self.session_key if session_key is None else session_key)
        data.destroy()
        with recording(self):
            await get_async_store().save(data)

    def flush(self) -> None:
        self.delete()
        self._forget()

    async def aflush(self) -> None:
        await self.adelete()
        self._forget()

    def clear(self) -> None:
        # Django skips the load here; hasession needs it to know which stored keys to delete.
        self._session.clear()
        self.accessed = self.modified = True

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: Redis expires sessions itself (``aclear_expired`` too)."""

    @classmethod
    async def aclear_expired(cls) -> None:
        return None

    def _data(self) -> SessionData:
        return self._adopt(self._session)

    async def _adata(self) -> SessionData:
        return self._adopt(await self._aget_session())

    def _adopt(self, current: Mapping[str, Any]) -> SessionData:
        """The cached data as a hasession session (Django caches a plain ``{}`` when there is no key)."""
        if not isinstance(current, SessionData):
            current = self._session_cache = SessionData.copy_of(current)
        return current

    def _read(self, key: str | None) -> SessionData:
        with recording(self):
            return SessionData.read(get_store(), key)

    async def _aread(self, key: str | None) -> SessionData:
        with recording(self):
            return await SessionData.aread(get_async_store(), key)

    def _migrated(self, data: SessionData, key: str | None) -> SessionData:
        """A key hasession does not know may be the previous engine's: copy that session's data."""
        settings_migration = migration()
        if key is None or not data.new or settings_migration is None:
            return data
        self.adoption = adopt(data, key, settings_migration)
        if self.adoption is not None:
            self.modified = True  # Django's middleware then saves it and sends the new key
        return data

    def _retire_old(self) -> None:
        """After the adopted data is saved: delete the old session if ``delete_old`` is set (both
        engines use ``SESSION_COOKIE_NAME``, so the new cookie replaces the old one)."""
        if self.adoption is not None:
            adoption, self.adoption = self.adoption, None
            adoption.finish(adoption.migration.reader.cookie_name)

    def _live(self, data: SessionData) -> bool:
        """Stored, and not past the date a ``set_expiry()`` gave it."""
        if data.new:
            return False
        expiry = data.get("_session_expiry")  # get_expiry_age() would read the clock even without one
        age: int = self.get_expiry_age(expiry=expiry) if expiry else self.get_session_cookie_age()
        return age > 0

    def _loaded(self, data: SessionData) -> SessionData:
        if self._live(data):
            return data
        self._session_key = None  # never reuse an unknown key: the next save makes a new one
        return SessionData()

    def _to_save(self, current: Mapping[str, Any], must_create: bool) -> SessionData:
        if self.session_key is None and self._stored_key is not None:
            raise UpdateError  # what this object stored was deleted meanwhile (a logout, a revoke)
        data = self._adopt(current)
        if must_create and not data.new:
            raise CreateError
        if data.new and not data and data.user_id is None:
            data[KEPT] = True
        return data

    def _saved(self, result: SaveResult) -> None:
        if result.cookie == "delete":
            raise UpdateError  # deleted or expired since it was loaded: not resurrected
        self._session_key = self._stored_key = result.value
        if result.wrote:  # reloaded on next use, from what Redis now holds
            del self._session_cache

    def _renew(self) -> None:
        """Start a new, unsaved session with the current data (``create()`` saves it under a new key)."""
        self._session_cache = SessionData.copy_of(getattr(self, "_session_cache", {}))
        self._session_key = self._stored_key = None

    def _forget(self) -> None:
        self._session_cache = {}
        self._session_key = self._stored_key = None
        self.accessed = self.modified = True
