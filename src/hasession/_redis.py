"""The one boundary where redis-py meets hasession: error mapping and connection settings.

Shared by the sync and async drivers; nothing here does I/O.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.exceptions as rex
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection, Connection, ConnectionPool, SSLConnection
from redis.retry import Retry

from ._exceptions import StoreConnectionError, StoreError, StoreResponseError, StoreTimeout
from ._routing import error_from_reply
from ._topology import Address, ConnectionOptions, Sentinel

__all__ = ["connection_kwargs", "map_redis_errors", "sentinel_pool"]

# redis-py 8 takes ``driver_info=None``; older versions ``lib_name=None, lib_version=None``.
_NO_SETINFO: dict[str, Any] = (
    {"driver_info": None}
    if "driver_info" in inspect.signature(AbstractConnection.__init__).parameters
    else {"lib_name": None, "lib_version": None}
)

try:  # redis-py >= 7
    from redis.maint_notifications import MaintNotificationsConfig

    _NO_MAINT_NOTIFICATIONS: dict[str, Any] = {
        "maint_notifications_config": MaintNotificationsConfig(enabled=False)
    }
except ImportError:  # pragma: no cover - older redis-py has no such handshake
    _NO_MAINT_NOTIFICATIONS = {}


@contextmanager
def map_redis_errors(address: Address | str) -> Iterator[None]:
    """Translate redis-py exceptions into :class:`StoreError` subclasses, chaining the original."""
    try:
        yield
    except rex.TimeoutError as exc:
        raise StoreTimeout(f"{address}: timed out") from exc
    except rex.ResponseError as exc:
        raise reply_error(exc) from exc
    except rex.AuthenticationError as exc:  # misconfiguration: retrying cannot help
        raise StoreResponseError(f"{address}: authentication failed: {exc}") from exc
    except (rex.ConnectionError, OSError) as exc:
        raise StoreConnectionError(f"{address}: {exc}") from exc
    except rex.RedisError as exc:
        raise StoreConnectionError(f"{address}: {type(exc).__name__}: {exc}") from exc


# redis-py strips the error code from the message of these classes.
_CODES: tuple[tuple[type[Exception], str], ...] = (
    (rex.ReadOnlyError, "READONLY"),
    (rex.BusyLoadingError, "LOADING"),
    (rex.NoScriptError, "NOSCRIPT"),
    (rex.MasterDownError, "MASTERDOWN"),
    (rex.MovedError, "MOVED"),  # before AskError: redis-py makes MovedError a subclass of it
    (rex.AskError, "ASK"),
    (rex.TryAgainError, "TRYAGAIN"),
    (rex.ClusterDownError, "CLUSTERDOWN"),
)


def reply_error(exc: rex.ResponseError) -> StoreError:
    """A Redis error reply read off the wire, as a :class:`StoreError`."""
    text = str(exc)
    code = next((c for cls, c in _CODES if isinstance(exc, cls)), None)
    return error_from_reply(f"{code} {text}" if code and not text.startswith(code) else text)


def connection_kwargs(
    options: ConnectionOptions, address: Address | None, unix_path: str | None = None
) -> dict[str, Any]:
    """Keyword arguments for a redis-py ``ConnectionPool`` (sync and async take the same)."""
    kwargs: dict[str, Any] = {
        "db": options.db,
        "username": options.username,
        "password": options.password.reveal().decode() if options.password else None,
        "socket_timeout": options.socket_timeout,
        "socket_connect_timeout": options.connect_timeout,
        "client_name": options.client_name,
        "max_connections": options.max_connections,
        "retry_on_timeout": False,
        "health_check_interval": 0,
        # No handshake on connect (HELLO, CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS): each one is a round
        # trip that hangs for a whole socket timeout on a frozen (SIGSTOPped) node.
        # RESP2: no HELLO on connect, and the reply shapes the flows parse.
        "protocol": 2,
        **_NO_SETINFO,
        **_NO_MAINT_NOTIFICATIONS,
    }
    if unix_path is not None:
        kwargs["path"] = unix_path
        return kwargs
    assert address is not None
    kwargs.update(host=address.host, port=address.port, socket_keepalive=True)
    if options.tls:
        kwargs.update(
            ssl_ca_certs=options.ssl_ca_certs,
            ssl_certfile=options.ssl_certfile,
            ssl_keyfile=options.ssl_keyfile,
            ssl_cert_reqs=options.ssl_cert_reqs,
        )
    return kwargs


def sentinel_pool(topology: Sentinel, address: Address) -> ConnectionPool:
    """A blocking pool to one Sentinel, for the watcher threads (both drivers use them)."""
    options = topology.sentinel_options
    cls = SSLConnection if options.tls else Connection
    return ConnectionPool(
        connection_class=cls, retry=Retry(NoBackoff(), 0), **connection_kwargs(options, address)
    )
