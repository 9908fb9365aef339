"""Parse the one URL that describes a topology.

Printing it back without its secrets (:func:`format_url`, and ``str()`` of a topology) lives with
the topology values in ``_topology.py``, with the table of query options both use.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import unquote

from ._config import Secret
from ._exceptions import ConfigurationError
from ._topology import (
    _DEFAULTS,
    _OPTIONS,
    Address,
    Cluster,
    ConnectionOptions,
    Scope,
    Sentinel,
    Standalone,
    Topology,
    format_url,
)

__all__ = ["format_url", "parse_url"]

T = TypeVar("T")

_HOST = re.compile(r"(?:\[(?P<ipv6>[^\]]*)\]|(?P<name>[^:\[\]]*))(?::(?P<port>.*))?")


def _error(message: str) -> ConfigurationError:
    return ConfigurationError(f"invalid Redis URL: {message}")


def _checked(label: str, convert: Callable[[str], T], text: str) -> T:
    try:
        return convert(text)
    except ValueError as exc:
        # `from None`: the original error may quote raw URL text; keep tracebacks clean.
        raise _error(f"{label}: {exc}") from None


def parse_url(url: str) -> Topology:
    """Build the :data:`~hasession.Topology` that *url* describes.

    Accepted forms (``rediss`` instead of ``redis`` turns on TLS)::

        redis://[[user]:password@]host[:port][/db][?options]
        unix://[[user]:password@]/path/to/socket[?db=N&options]
        redis+sentinel://[[user]:password@]host[:port],.../master_name[/db][?options]
        redis+cluster://[[user]:password@]host[:port],...[?options]

    Default ports are 6379 and, for Sentinels, 26379; IPv6 goes in brackets. Percent-encode
    ``@ / ? : %`` in credentials and paths. The URL's credentials are the data nodes'; Sentinels
    authenticate with ``sentinel_username`` and ``sentinel_password``. Errors never show a password.

    >>> parse_url("redis://cache.internal:6380/2").options.db
    2
    >>> str(parse_url("rediss+sentinel://app:s3cret@s1,s2/mymaster?socket_timeout=0.5"))
    'rediss+sentinel://app:***@s1:26379,s2:26379/mymaster?socket_timeout=0.5'

    :raises ConfigurationError: the URL is invalid, or has an unknown or repeated option.

    .. versionadded:: 0.1
    """
    scheme, tls, rest = _split_scheme(url)
    before_query, _, query = rest.partition("?")
    authority, slash, path = before_query.partition("/")
    if "@" in path or "@" in query:
        # Almost always an unencoded "/" or "?" in a password: say so, and quote nothing.
        raise _error("'@' may appear only before the host; percent-encode it (and '/', '?') as %40")
    userinfo, _, hosts = authority.rpartition("@")
    username, _, password = (unquote(part) for part in userinfo.partition(":"))
    raw = _query(query, sentinel=scheme == "redis+sentinel")
    options = ConnectionOptions(username=username or None, password=Secret(password) if password else None)
    return _BUILDERS[scheme](hosts, slash + path, raw, replace(options, tls=tls, **_changes(raw, "data")))


def _split_scheme(url: str) -> tuple[str, bool, str]:
    scheme, sep, rest = url.partition("://")
    plain = scheme.lower().replace("rediss", "redis", 1)  # "rediss+cluster" -> "redis+cluster"
    if not sep or plain not in _BUILDERS:
        shown = repr(scheme) if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) else "missing"
        raise _error(f"scheme {shown} is not redis(s), unix, redis(s)+sentinel or redis(s)+cluster")
    return plain, plain != scheme.lower(), rest


def _query(query: str, *, sentinel: bool) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        # unquote, not unquote_plus: a "+" in a file path or password stays a plus.
        key, value = (unquote(part) for part in pair.partition("=")[::2])
        if key not in _OPTIONS:
            raise _error(f"unknown option {key!r}; valid options: {', '.join(_OPTIONS)}")
        if key in found or not value or (_OPTIONS[key].scope == "sentinel" and not sentinel):
            problem = "repeated" if key in found else "empty" if not value else "for redis+sentinel:// only"
            raise _error(f"option {key!r} is {problem}")
        found[key] = value
    return found


def _changes(raw: Mapping[str, str], scope: Scope) -> dict[str, Any]:  # Any: the table types each
    chosen = {k: v for k, v in raw.items() if _OPTIONS[k].scope in (scope, "both")}
    return {_OPTIONS[k].field: _checked(k, _OPTIONS[k].convert, v) for k, v in chosen.items()}


def _segments(path: str, most: int) -> list[str]:
    segments = [unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
    if len(segments) > most:
        raise _error(f"the path has {len(segments)} parts, at most {most} expected")
    return segments


def _with_db(options: ConnectionOptions, raw: Mapping[str, str], segments: list[str]) -> ConnectionOptions:
    if segments and "db" in raw:
        raise _error("the database is given twice, in the path and as ?db=")
    return replace(options, **_changes({"db": segments[0]}, "data")) if segments else options


def _address(text: str, default_port: int) -> Address:
    match = _HOST.fullmatch(text)
    if not match or not (host := match["ipv6"] or match["name"]):
        # Quote only what precedes a ":": a port-like tail may be a misplaced password.
        raise _error(f"missing or invalid host {text.partition(':')[0]!r}; IPv6 goes in brackets: [::1]:6379")
    if match["ipv6"]:
        _checked("IPv6 address", ipaddress.IPv6Address, host)
    port = match["port"]
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise _error(f"the port of {host!r} is not an integer in 1-65535")
    return Address(host, default_port if port is None else int(port))


def _standalone(hosts: str, path: str, raw: Mapping[str, str], options: ConnectionOptions) -> Standalone:
    if "," in hosts:
        raise _error("redis:// takes one host; use redis+sentinel:// or redis+cluster:// for several")
    return Standalone(address=_address(hosts, 6379), options=_with_db(options, raw, _segments(path, 1)))


def _unix(hosts: str, path: str, raw: Mapping[str, str], options: ConnectionOptions) -> Standalone:
    if hosts or not path.strip("/"):
        raise _error("write a socket path without a host: unix:///path/to/redis.sock")
    return Standalone(unix_path=unquote(path), options=options)


def _sentinel(hosts: str, path: str, raw: Mapping[str, str], options: ConnectionOptions) -> Sentinel:
    segments = _segments(path, 2)
    if not segments:
        raise _error("the master name is missing: redis+sentinel://host:26379/mymaster")
    return Sentinel(
        sentinels=tuple(_address(text, 26379) for text in hosts.split(",")),
        master_name=segments[0],
        options=_with_db(options, raw, segments[1:]),
        sentinel_options=replace(_DEFAULTS, **{"tls": options.tls, **_changes(raw, "sentinel")}),
    )


def _cluster(hosts: str, path: str, raw: Mapping[str, str], options: ConnectionOptions) -> Cluster:
    options = _with_db(options, raw, _segments(path, 1))
    if options.db != 0:
        raise _error("Redis Cluster has only database 0")
    return Cluster(seeds=tuple(_address(text, 6379) for text in hosts.split(",")), options=options)


_BUILDERS: dict[str, Callable[[str, str, Mapping[str, str], ConnectionOptions], Topology]] = {
    "redis": _standalone,
    "unix": _unix,
    "redis+sentinel": _sentinel,
    "redis+cluster": _cluster,
}
