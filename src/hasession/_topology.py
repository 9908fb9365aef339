"""Where the sessions live: standalone Redis, Sentinel or Cluster, as frozen values.

Built by :func:`hasession.parse_url` from one URL; the drivers turn them into connections.
``str()`` of a topology is its URL with passwords as ``***`` (:func:`format_url`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal, NamedTuple, TypeVar, get_args
from urllib.parse import quote

from ._config import Secret

__all__ = ["Address", "Cluster", "ConnectionOptions", "Sentinel", "Standalone", "Topology", "format_url"]

T = TypeVar("T")
CertReqs = Literal["required", "optional", "none"]
#: Which ConnectionOptions a URL option sets: the data nodes', the Sentinels', or both.
Scope = Literal["data", "sentinel", "both"]


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
        return format_url(self)


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
        return format_url(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cluster:
    """A Redis Cluster, reached through any of its seed nodes."""

    seeds: tuple[Address, ...]
    options: ConnectionOptions = field(default_factory=ConnectionOptions)

    def __str__(self) -> str:
        return format_url(self)


Topology = Standalone | Sentinel | Cluster


# -- the URL form of a topology (parsed by hasession._url) ---------------------------------

_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_CERT_REQS: dict[str, CertReqs] = {reqs: reqs for reqs in get_args(CertReqs)}
_DEFAULTS = ConnectionOptions()


def _integer(text: str, *, minimum: int) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < minimum:
        raise ValueError(f"expected an integer >= {minimum}, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    with suppress(ValueError):
        if math.isfinite(value := float(text)) and value > 0:
            return value
    raise ValueError(f"expected a number of seconds > 0, got {text!r}")


def _one_of(choices: Mapping[str, T], text: str) -> T:
    if text.lower() not in choices:
        raise ValueError(f"expected one of {'/'.join(choices)}, got {text!r}")
    return choices[text.lower()]


class _Option(NamedTuple):
    convert: Callable[[str], object]
    field: str
    scope: Scope


#: Every query option: name -> (converter, field it sets, scope). Unknown keys are errors, not silent typos.
_OPTIONS: dict[str, _Option] = {
    "db": _Option(partial(_integer, minimum=0), "db", "data"),
    "socket_timeout": _Option(_seconds, "socket_timeout", "both"),
    "connect_timeout": _Option(_seconds, "connect_timeout", "both"),
    "client_name": _Option(str, "client_name", "both"),
    "max_connections": _Option(partial(_integer, minimum=1), "max_connections", "both"),
    "ssl_ca_certs": _Option(str, "ssl_ca_certs", "both"),
    "ssl_certfile": _Option(str, "ssl_certfile", "both"),
    "ssl_keyfile": _Option(str, "ssl_keyfile", "both"),
    "ssl_cert_reqs": _Option(partial(_one_of, _CERT_REQS), "ssl_cert_reqs", "both"),
    "sentinel_username": _Option(str, "username", "sentinel"),
    "sentinel_password": _Option(Secret, "password", "sentinel"),
    "sentinel_tls": _Option(partial(_one_of, _BOOLS), "tls", "sentinel"),
}


def format_url(topology: Topology) -> str:
    """Return the canonical URL of *topology* (ports written, defaults left out), passwords as ``***``.

    .. versionadded:: 0.1
    """
    scheme, location = _scheme_and_location(topology)
    userinfo = quote(topology.options.username or "", safe="") + (":***" if topology.options.password else "")
    query = "&".join(_rendered_options(topology, db_in_query=scheme == "unix"))
    return f"{scheme}://{userinfo}{'@' if userinfo else ''}{location}{'?' if query else ''}{query}"


def _scheme_and_location(topology: Topology) -> tuple[str, str]:
    redis = "rediss" if topology.options.tls else "redis"
    db = f"/{topology.options.db}" if topology.options.db else ""
    if isinstance(topology, Sentinel):
        hosts = ",".join(map(str, topology.sentinels))
        return f"{redis}+sentinel", f"{hosts}/{quote(topology.master_name, safe='')}{db}"
    if isinstance(topology, Cluster):
        return f"{redis}+cluster", ",".join(map(str, topology.seeds))
    if topology.unix_path is not None:
        return "unix", quote(topology.unix_path)
    return redis, f"{topology.address or ''}{db}"


def _rendered_options(topology: Topology, *, db_in_query: bool) -> Iterator[str]:
    # A Sentinel's TLS defaults to the scheme's; no other table field is a data-node TLS.
    default = replace(_DEFAULTS, tls=topology.options.tls)
    sentinel = topology.sentinel_options if isinstance(topology, Sentinel) else None
    for name, option in _OPTIONS.items():
        value = getattr(sentinel if option.scope == "sentinel" else topology.options, option.field, None)
        if value is None or value == getattr(default, option.field) or (name == "db" and not db_in_query):
            continue
        if isinstance(value, (Secret, bool)):
            yield f"{name}={'***' if isinstance(value, Secret) else str(value).lower()}"
        else:
            yield f"{name}={quote(str(value), safe='/')}"
