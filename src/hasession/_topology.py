"""Where the sessions live: standalone Redis, Sentinel or Cluster, as frozen values.

Built by :func:`hasession.parse_url` from one URL; the drivers turn them into connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ._config import Secret

__all__ = ["Address", "Cluster", "ConnectionOptions", "Sentinel", "Standalone", "Topology"]

CertReqs = Literal["required", "optional", "none"]


@dataclass(frozen=True, slots=True, order=True)
class Address:
    """A TCP endpoint."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionOptions:
    """How to connect and authenticate to one kind of Redis process (data node or Sentinel)."""

    #: ACL user name (``AUTH user password``); ``None``: the default user.
    username: str | None = None
    #: Password (``AUTH``); ``None``: no authentication.
    password: Secret | None = None
    #: Logical database (standalone and Sentinel only; Cluster has only db 0).
    db: int = 0
    #: Connect over TLS (the ``rediss`` schemes).
    tls: bool = False
    #: File of the CA certificates that verify the servers (TLS); ``None``: the system's.
    ssl_ca_certs: str | None = None
    #: Client certificate file, for servers that require one (TLS).
    ssl_certfile: str | None = None
    #: Private key file of the client certificate (TLS).
    ssl_keyfile: str | None = None
    #: Server certificate check (TLS): ``required``, ``optional`` or ``none``.
    ssl_cert_reqs: CertReqs = "required"
    #: Seconds to wait for one reply; a timeout is an unknown outcome and is retried.
    socket_timeout: float = 1.0
    #: Seconds to wait for a TCP connect (Sentinel docs: "a few hundreds of milliseconds").
    connect_timeout: float = 0.25
    #: Name shown by ``CLIENT LIST`` for the store's connections.
    client_name: str | None = None
    #: Connections per node and per store.
    max_connections: int = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class Standalone:
    """One Redis server, over TCP or a Unix socket."""

    address: Address | None = None
    unix_path: str | None = None
    options: ConnectionOptions = field(default_factory=ConnectionOptions)

    def __str__(self) -> str:
        return _redacted_url(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sentinel:
    """A master found through Redis Sentinel."""

    sentinels: tuple[Address, ...]
    master_name: str
    #: Options for the data nodes (master and replicas).
    options: ConnectionOptions = field(default_factory=ConnectionOptions)
    #: Options for the Sentinels themselves (they often have other credentials).
    sentinel_options: ConnectionOptions = field(default_factory=ConnectionOptions)

    def __str__(self) -> str:
        return _redacted_url(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cluster:
    """A Redis Cluster, reached through any of its seed nodes."""

    seeds: tuple[Address, ...]
    options: ConnectionOptions = field(default_factory=ConnectionOptions)

    def __str__(self) -> str:
        return _redacted_url(self)


Topology = Standalone | Sentinel | Cluster


def _redacted_url(topology: Topology) -> str:
    """The URL of *topology* with its passwords replaced by ``***``: safe for logs."""
    from ._url import format_url  # imported here because _url imports this module

    return format_url(topology)
