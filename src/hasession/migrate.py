"""Adopt hasession without logging anyone out: read the sessions another library stored.

Each reader knows one library's default format and reads it **read-only** (it only deletes
an old session when the migration is configured to). Readers never unpickle: a stored value
that is a pickle, or a configuration that stores pickles, raises
:class:`~hasession.UnsafeSessionFormat` with the reason, because unpickling bytes from Redis
runs whatever code they contain.

Give a :class:`Migration` to an adapter (``init_app(..., migrate_from=Migration(...))``). A
request that carries the old library's cookie and no hasession cookie gets the old session's
data copied into a new hasession session, once: the response sets the hasession cookie, and
the old cookie is expired (unless both libraries use the same cookie name, in which case the
hasession cookie simply replaces it)::

    import redis
    from hasession.migrate import FlaskSessionReader, Migration

    old_redis = redis.Redis()
    migration = Migration(reader=FlaskSessionReader(old_redis), delete_old=False)

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Protocol

from ._config import CookieOptions
from ._cookies import delete_cookie_header
from ._exceptions import UndecodableSession, UnsafeSessionFormat

__all__ = [
    "AiohttpSessionReader",
    "DjangoCacheReader",
    "DjangoDatabaseReader",
    "FlaskSessionReader",
    "Migration",
    "SessionReader",
    "StarsessionsReader",
    "UnsafeSessionFormat",
    "looks_like_pickle",
]

log = logging.getLogger("hasession")

#: First bytes of a protocol 0/1 pickle (MARK, EMPTY_DICT, EMPTY_LIST, GLOBAL, INT, STRING...).
_PICKLE_0_STARTS = frozenset(b"(}]cISVNLFdlt")


def looks_like_pickle(raw: bytes) -> bool:
    """Whether ``raw`` is a pickle, judged by its opcodes (never by loading it).

    Protocols 2 to 5 start with the ``PROTO`` opcode ``0x80`` and the protocol number;
    protocols 0 and 1 start with one of a few opcodes and end with ``STOP`` (``.``), which no
    JSON document does.
    """
    if len(raw) >= 2 and raw[0] == 0x80 and 1 <= raw[1] <= 5:
        return True
    return len(raw) >= 2 and raw[0] in _PICKLE_0_STARTS and raw.endswith(b".")


def _refuse_pickle(raw: bytes, library: str) -> None:
    if looks_like_pickle(raw):
        raise UnsafeSessionFormat(
            f"this {library} session is a pickle: hasession never unpickles (it would run any code "
            "stored in Redis). Switch the old library to a JSON serializer and let sessions renew, "
            "or start the users of these sessions afresh",
            payload=raw,
        )


def _json_object(raw: bytes, library: str) -> dict[str, Any]:
    _refuse_pickle(raw, library)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise UndecodableSession(f"{library} session is not JSON", payload=raw, original_error=exc) from exc
    if not isinstance(value, dict):
        raise UndecodableSession(f"{library} session is not a JSON object", payload=raw)
    return value


class SessionReader(Protocol):
    """Reads one library's sessions. Readers are synchronous; async adapters run them in a thread."""

    #: The name of the old library's session cookie.
    cookie_name: str

    def read(self, cookie: str) -> dict[str, Any] | None:
        """The data of the session ``cookie`` names; None when there is none (or it expired).

        :raises UnsafeSessionFormat: the stored session needs pickle to read.
        :raises UndecodableSession: the stored bytes are not in the expected format.
        """

    def delete(self, cookie: str) -> None:
        """Delete the old session (only called when :attr:`Migration.delete_old` is set)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _RedisReader:
    #: A synchronous ``redis.Redis`` client of the old store.
    client: Any
    cookie_name: str
    key_prefix: str

    def key(self, cookie: str) -> str | None:
        return self.key_prefix + cookie

    def read(self, cookie: str) -> dict[str, Any] | None:
        key = self.key(cookie)
        raw = self.client.get(key) if key is not None else None
        return None if raw is None else self.decode(raw)

    def decode(self, raw: bytes) -> dict[str, Any]:
        raise NotImplementedError

    def delete(self, cookie: str) -> None:
        key = self.key(cookie)
        if key is not None:
            self.client.delete(key)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlaskSessionReader(_RedisReader):
    """Flask-Session's ``RedisSessionInterface`` (``SESSION_TYPE = "redis"``), 0.7 and later.

    Values are msgspec msgpack (the default ``SESSION_SERIALIZATION_FORMAT``) or JSON. Sessions
    written by Flask-Session before 0.7 are pickles and are refused. With the deprecated
    ``SESSION_USE_SIGNER``, pass the app's ``secret_key`` as ``signer_key``.

    :param client: a synchronous ``redis.Redis`` for the old store (``SESSION_REDIS``).
    """

    cookie_name: str = "session"
    key_prefix: str = "session:"
    signer_key: str | bytes | None = None

    def key(self, cookie: str) -> str | None:
        if self.signer_key is None:
            return self.key_prefix + cookie
        from itsdangerous import BadSignature, Signer

        try:
            sid = Signer(self.signer_key, salt="flask-session", key_derivation="hmac").unsign(cookie)
        except BadSignature:
            return None
        return self.key_prefix + sid.decode()

    def decode(self, raw: bytes) -> dict[str, Any]:
        _refuse_pickle(raw, "Flask-Session")
        try:
            import msgspec
        except ImportError:  # pragma: no cover - Flask-Session itself depends on msgspec
            return _json_object(raw, "Flask-Session")
        for decoder in (msgspec.msgpack.decode, msgspec.json.decode):
            try:
                value = decoder(raw)
            except msgspec.DecodeError:
                continue
            if isinstance(value, dict):
                return value
        raise UndecodableSession("Flask-Session session is neither msgpack nor JSON", payload=raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class StarsessionsReader(_RedisReader):
    """starsessions' ``RedisStore`` with its default ``JsonSerializer``.

    :param client: a synchronous ``redis.Redis`` for the old store.
    """

    cookie_name: str = "session"
    key_prefix: str = "starsessions."

    def decode(self, raw: bytes) -> dict[str, Any]:
        data = _json_object(raw, "starsessions")
        data.pop("__metadata__", None)  # starsessions' own bookkeeping (created, lifetime...)
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class AiohttpSessionReader(_RedisReader):
    """aiohttp-session's ``RedisStorage`` with its default JSON encoder.

    Its keys are ``<cookie name>_<key>`` and its values ``{"created": ..., "session": {...}}``.

    :param client: a synchronous ``redis.Redis`` for the old store.
    """

    cookie_name: str = "AIOHTTP_SESSION"
    key_prefix: str = ""

    def key(self, cookie: str) -> str | None:
        return f"{self.key_prefix or self.cookie_name + '_'}{cookie}"

    def decode(self, raw: bytes) -> dict[str, Any]:
        session = _json_object(raw, "aiohttp-session").get("session")
        if not isinstance(session, dict):
            raise UndecodableSession("aiohttp-session value has no 'session' object", payload=raw)
        return session


@dataclass(frozen=True, slots=True, kw_only=True)
class DjangoCacheReader(_RedisReader):
    """Django's cache sessions (``SESSION_ENGINE = "django.contrib.sessions.backends.cache"``) in Redis.

    Django's own ``RedisCache`` pickles every value, so its sessions are refused with
    :class:`~hasession.UnsafeSessionFormat`; a cache that stores JSON (django-redis with its
    ``JSONSerializer``) is read. Keys are ``<KEY_PREFIX>:<VERSION>:django.contrib.sessions.cache<key>``.

    :param client: a synchronous ``redis.Redis`` for the cache's Redis.
    """

    cookie_name: str = "sessionid"
    key_prefix: str = ""
    version: int = 1

    def key(self, cookie: str) -> str | None:
        return f"{self.key_prefix}:{self.version}:django.contrib.sessions.cache{cookie}"

    def decode(self, raw: bytes) -> dict[str, Any]:
        return _json_object(raw, "Django cache")


@dataclass(frozen=True, slots=True, kw_only=True)
class DjangoDatabaseReader:
    """Django's database sessions (``django.contrib.sessions.backends.db`` or ``cached_db``).

    Runs inside the Django project (settings configured): each read is one ``SELECT`` through
    Django's own session store, which checks the signature with ``SECRET_KEY``. Refused when
    ``SESSION_SERIALIZER`` is not Django's ``JSONSerializer``.
    """

    cookie_name: str = "sessionid"
    engine: str = "django.contrib.sessions.backends.db"

    def _store(self, cookie: str) -> Any:
        from django.conf import settings  # type: ignore[import-untyped]

        serializer = getattr(
            settings, "SESSION_SERIALIZER", "django.contrib.sessions.serializers.JSONSerializer"
        )
        if not serializer.endswith("JSONSerializer"):
            raise UnsafeSessionFormat(
                f"SESSION_SERIALIZER is {serializer}: hasession reads only JSON sessions, never pickles"
            )
        return import_module(self.engine).SessionStore(session_key=cookie)

    def read(self, cookie: str) -> dict[str, Any] | None:
        data = self._store(cookie).load()  # one SELECT; expired, missing or forged: {}
        return dict(data) or None

    def delete(self, cookie: str) -> None:
        self._store(cookie).delete(cookie)


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """How an adapter moves sessions from another library.

    .. versionadded:: 0.1
    """

    #: Reads the old library's sessions.
    reader: SessionReader
    #: Delete the old session once its data is in a saved hasession session.
    delete_old: bool = False
    #: The new session's user id, from the old data (e.g. ``lambda d: d.get("_auth_user_id")``),
    #: so that ``sessions_of`` and ``revoke_user`` know migrated sessions too.
    user_id: Callable[[Mapping[str, Any]], str | None] | None = None
    #: ``Path`` and ``Domain`` of the old cookie, to expire it.
    old_cookie_path: str = "/"
    old_cookie_domain: str | None = None

    def expire_old_cookie(self, new_cookie_name: str) -> str | None:
        """The ``Set-Cookie`` value that removes the old cookie (None when hasession reuses its name)."""
        name = self.reader.cookie_name
        if name == new_cookie_name:
            return None
        options = CookieOptions(
            name=name, path=self.old_cookie_path, domain=self.old_cookie_domain, secure=False
        )
        return delete_cookie_header(options)
