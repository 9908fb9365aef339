"""The one boundary where redis-py meets hasession: error mapping and connection settings.

Shared by the sync and async drivers; nothing here does I/O.
"""

from __future__ import annotations

import inspect
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.exceptions as rex
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection, Connection, ConnectionPool, SSLConnection
from redis.retry import Retry

from ._exceptions import StoreConnectionError, StoreError, StoreMisconfigured, StoreTimeout
from ._routing import error_from_reply
from ._topology import Address, ConnectionOptions, Sentinel

__all__ = ["TLSConnection", "connection_kwargs", "map_redis_errors", "sentinel_pool"]

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
    """Translate redis-py exceptions into :class:`StoreError` subclasses, chaining the original.

    Refusals that only a configuration change can cure (a certificate that does not verify, a
    wrong password) become :class:`StoreMisconfigured`, which is never retried; everything a
    failover can cause stays a :class:`StoreUnavailable` subclass, which is.
    """
    try:
        yield
    except rex.TimeoutError as exc:
        raise StoreTimeout(f"{address}: timed out") from exc
    except rex.ResponseError as exc:
        raise reply_error(exc) from exc
    except rex.AuthenticationError as exc:  # WRONGPASS / NOAUTH (a ConnectionError in redis-py)
        raise StoreMisconfigured(
            f"{address}: authentication failed ({exc}); check the username and password", cause="auth"
        ) from exc
    except (rex.ConnectionError, OSError) as exc:
        raise tls_refusal(address, exc) or StoreConnectionError(f"{address}: {exc}") from exc
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
    (rex.NoPermissionError, "NOPERM"),
)

#: OpenSSL reasons that mean "the two ends do not trust each other" (or TLS met a plain-text
#: port): a configuration fault. Any other TLS error (EOF mid-handshake from a dying node) is a
#: lost connection and retried.
_TLS_REFUSALS = frozenset(
    {
        "CERTIFICATE_VERIFY_FAILED",
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "WRONG_VERSION_NUMBER",
        "PACKET_LENGTH_TOO_LONG",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
    }
)


def tls_refusal(address: Address | str, exc: BaseException) -> StoreMisconfigured | None:
    """A :class:`StoreMisconfigured` if a TLS handshake in ``exc``'s chain failed on trust, else ``None``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return StoreMisconfigured(
                f"{address}: TLS: the server certificate did not verify ({current.verify_message}); "
                "check ssl_ca_certs and that the certificate names the host you connect to",
                cause="tls",
            )
        if isinstance(current, ssl.SSLError) and getattr(current, "reason", None) in _TLS_REFUSALS:
            return StoreMisconfigured(
                f"{address}: TLS handshake refused ({current.reason}); check the CA, the client "
                "certificate (ssl_certfile/ssl_keyfile) and that the port speaks TLS",
                cause="tls",
            )
        current = current.__cause__ or current.__context__
    return None


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


class TLSConnection(SSLConnection):
    """redis-py's TLS connection, whose "unread data?" check counts decrypted bytes only.

    A TLS 1.3 server sends session tickets after the handshake, so the raw socket of a fresh
    connection is often readable with no reply in it. redis-py 8's pool takes that for unread
    replies and fails the checkout ("Connection not ready"): a spurious retry, and a hold, for
    many new connections. Here a readable socket is read without blocking, and only bytes that
    decrypt into the reply buffer count. (The async driver checks decrypted bytes already.)
    """

    def can_read(self, timeout: float = 0) -> bool:
        if not super().can_read(timeout):
            return False
        parser: Any = self._parser
        reader = getattr(parser, "_reader", None)
        if reader is None or not hasattr(parser, "read_from_socket") or reader.has_data():
            return True
        try:
            return bool(parser.read_from_socket(timeout=0, raise_on_timeout=False))
        except OSError as exc:  # the server's TLS alert (a refused client certificate), a reset
            self.disconnect()  # type: ignore[no-untyped-call]
            raise rex.ConnectionError(f"Error while reading from {self.host}:{self.port}: {exc}") from exc


def sentinel_pool(topology: Sentinel, address: Address) -> ConnectionPool:
    """A blocking pool to one Sentinel, for the watcher threads (both drivers use them)."""
    options = topology.sentinel_options
    cls = TLSConnection if options.tls else Connection
    return ConnectionPool(
        connection_class=cls, retry=Retry(NoBackoff(), 0), **connection_kwargs(options, address)
    )
