"""The process-wide hasession stores behind ``SESSION_ENGINE = "hasession.django"``.

Both are built lazily from ``settings.HASESSION``, converted once here::

    HASESSION = {
        "URL": "redis+sentinel://s1:26379,s2:26379/mymaster/0",
        "SECRET_KEYS": [...],  # oldest first; default: SECRET_KEY_FALLBACKS + SECRET_KEY
        "OPTIONS": {"retry": RetryPolicy(hold_budget=3.0)},  # or {"retry": {"hold_budget": 3.0}}
    }

``OPTIONS`` takes every keyword option of :meth:`hasession.StoreConfig.from_url` but
``secret_keys`` (that is ``SECRET_KEYS``); the list comes from the fields of ``StoreConfig``.

There is one sync store per process, and one async store per event loop: redis-py's asyncio
connections belong to the loop that opened them. Under ASGI that is one loop, so one store; an
async view under WSGI runs in a fresh loop per request, so prefer sync views there.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.core.signals import setting_changed  # type: ignore[import-untyped]

from .. import AsyncSessionStore, ConfigurationError, Secret, SessionPolicy, SessionStore, StoreConfig
from .._options import option_fields
from ..migrate import Migration

__all__ = ["get_async_store", "get_store", "migration", "store_config"]

#: ``HASESSION["OPTIONS"]``: every option of ``StoreConfig`` but the keys, given as ``SECRET_KEYS``.
_OPTIONS = set(option_fields(StoreConfig)) - {"secret_keys"}
#: Settings whose change (``override_settings`` in tests) rebuilds the stores.
_WATCHED = {"HASESSION", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "SESSION_COOKIE_AGE"}

_lock = threading.Lock()
_sync: SessionStore | None = None
_async: dict[asyncio.AbstractEventLoop, AsyncSessionStore] = {}
_closers: set[asyncio.Task[None]] = set()
_checked: Mapping[str, Any] | None = None


def get_store() -> SessionStore:
    """The process-wide sync store (for ``revoke_user``, ``sessions_of``...).

    .. versionadded:: 0.1
    """
    global _sync
    store = _sync
    if store is not None:  # the usual case: built already, no lock
        return store
    with _lock:
        if _sync is None:
            _sync = SessionStore(store_config())
        return _sync


def get_async_store() -> AsyncSessionStore:
    """The async store of the running event loop; it is closed when that loop shuts down.

    .. versionadded:: 0.1
    """
    loop = asyncio.get_running_loop()
    with _lock:
        store = _async.get(loop)
        if store is None:
            store = _async[loop] = AsyncSessionStore(store_config())
            closer = loop.create_task(_close_with_loop(loop, store), name="hasession-django-closer")
            _closers.add(closer)
            closer.add_done_callback(_closers.discard)
        return store


def store_config() -> StoreConfig:
    """``settings.HASESSION`` as a :class:`~hasession.StoreConfig`.

    .. versionadded:: 0.1
    """
    conf = _setting()
    if isinstance(conf.get("OPTIONS"), Mapping) and "secret_keys" in conf["OPTIONS"]:
        raise ImproperlyConfigured('the keys go in settings.HASESSION["SECRET_KEYS"], not in "OPTIONS"')
    options = dict(_mapping(conf.get("OPTIONS", {}), 'settings.HASESSION["OPTIONS"]', _OPTIONS))
    if options.get("session") is None:
        options["session"] = _session_policy()
    if isinstance(key := options.get("id_hash_key"), (str, bytes, Secret)):
        options["id_hash_key"] = _long_enough(_bytes(key))  # as the default, a stretched Django key, is
    keys = conf.get("SECRET_KEYS") or _django_keys()
    try:
        return StoreConfig.from_url(conf["URL"], secret_keys=keys, **options)
    except ConfigurationError as exc:
        raise ImproperlyConfigured(f"settings.HASESSION: {exc}") from exc


def migration() -> Migration | None:
    """``settings.HASESSION["MIGRATE_FROM"]``: how to adopt sessions of the previous engine.

    .. versionadded:: 0.1
    """
    value = _setting().get("MIGRATE_FROM")
    if value is not None and not isinstance(value, Migration):
        raise ImproperlyConfigured('settings.HASESSION["MIGRATE_FROM"] must be a hasession.migrate.Migration')
    return value


def _setting() -> Mapping[str, Any]:
    """``settings.HASESSION``, checked once (again after a change: see :func:`_reset`)."""
    global _checked
    conf = _checked
    if conf is None:
        conf = _checked = _checked_setting()
    return conf


def _checked_setting() -> Mapping[str, Any]:
    conf = _mapping(
        getattr(settings, "HASESSION", None),
        "settings.HASESSION",
        {"URL", "SECRET_KEYS", "OPTIONS", "MIGRATE_FROM"},
    )
    if "URL" not in conf:
        raise ImproperlyConfigured('settings.HASESSION needs a "URL", such as "redis://localhost:6379/0"')
    return conf


def _mapping(value: object, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(f"{where} must be a dict (see hasession's Django docs)")
    if unknown := set(value) - allowed:
        raise ImproperlyConfigured(f"unknown keys in {where}: {sorted(unknown)}; allowed: {sorted(allowed)}")
    return value


def _session_policy() -> SessionPolicy:
    """By default a session stays alive ``SESSION_COOKIE_AGE`` seconds after its last use."""
    age, default = settings.SESSION_COOKIE_AGE, SessionPolicy()
    return SessionPolicy(
        idle_timeout=age,
        absolute_timeout=max(age, default.absolute_timeout),
        touch_interval=min(default.touch_interval, age // 2),
    )


def _django_keys() -> list[str | bytes]:
    """Django's keys, oldest first: the fallbacks (listed newest first) then ``SECRET_KEY``."""
    keys = [*reversed(settings.SECRET_KEY_FALLBACKS), settings.SECRET_KEY]
    return [_long_enough(_bytes(k)) for k in keys]


def _bytes(key: str | bytes | Secret) -> bytes:
    if isinstance(key, Secret):
        return key.reveal()
    return key.encode() if isinstance(key, str) else key


def _long_enough(key: bytes) -> bytes:
    # hasession wants 16+ bytes; derive a stable longer key from a short one (Django warns about it).
    return key if len(key) >= 16 else hashlib.sha256(b"hasession.django:" + key).digest()


async def _close_with_loop(loop: asyncio.AbstractEventLoop, store: AsyncSessionStore) -> None:
    """Wait for the loop to shut down (``asyncio.run`` then cancels every task), then close ``store``."""
    try:
        await loop.create_future()
    finally:
        with _lock:
            if _async.get(loop) is store:
                del _async[loop]
        await store.close()


def _reset(*, setting: str, **kwargs: object) -> None:
    """Rebuild the stores on next use when a setting they depend on changes."""
    global _sync, _checked
    if setting not in _WATCHED:
        return
    _checked = None
    with _lock:
        old, _sync = _sync, None
        _async.clear()  # each is still closed with its loop
    if old is not None:
        old.close()


setting_changed.connect(_reset, dispatch_uid="hasession.django._reset")
