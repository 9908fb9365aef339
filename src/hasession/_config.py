"""Frozen, keyword-only configuration values, converted once at the boundary.

Every value here is immutable: derive a variant with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ._exceptions import ConfigurationError

__all__ = [
    "CookieOptions",
    "Durability",
    "Concurrency",
    "RetryPolicy",
    "Secret",
    "SessionPolicy",
    "DurabilityPolicy",
]

Durability = Literal["async", "replicated"]
Concurrency = Literal["merge", "cas"]
SameSite = Literal["lax", "strict", "none"]


class Secret:
    """A secret value (key, password) whose ``repr`` and ``str`` never reveal it.

    .. versionadded:: 0.1
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value.encode() if isinstance(value, str) else bytes(value)

    def reveal(self) -> bytes:
        """Return the secret bytes. Call it only where the secret is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def secrets_tuple(keys: Secret | str | bytes | Sequence[Secret | str | bytes]) -> tuple[Secret, ...]:
    """Normalise one key or a list of keys (oldest first) into a tuple of :class:`Secret`."""
    if isinstance(keys, (Secret, str, bytes)):
        keys = [keys]
    result = tuple(k if isinstance(k, Secret) else Secret(k) for k in keys)
    if not result:
        raise ConfigurationError("at least one secret key is required")
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class CookieOptions:
    """How the session cookie is written. One value shared by every framework adapter.

    .. versionadded:: 0.1
    """

    #: Cookie name.
    name: str = "session"
    #: ``Path`` attribute.
    path: str = "/"
    #: ``Domain`` attribute; ``None`` makes a host-only cookie.
    domain: str | None = None
    #: ``Secure`` attribute. Leave it on outside local development.
    secure: bool = True
    #: ``HttpOnly`` attribute.
    httponly: bool = True
    #: ``SameSite`` attribute.
    samesite: SameSite = "lax"
    #: ``Max-Age`` in seconds; ``None`` makes a browser-session cookie.
    max_age: int | None = None
    #: ``Partitioned`` attribute (CHIPS).
    partitioned: bool = False

    def __post_init__(self) -> None:
        if self.samesite not in ("lax", "strict", "none"):
            raise ConfigurationError(f"samesite must be 'lax', 'strict' or 'none', not {self.samesite!r}")
        for attribute in ("path", "domain"):
            value = getattr(self, attribute) or ""
            if any(c in value for c in ";,") or any(ord(c) < 32 or ord(c) == 127 for c in value):
                raise ConfigurationError(f"invalid cookie {attribute} {value!r}")
        if self.samesite == "none" and not self.secure:
            raise ConfigurationError("SameSite=None cookies must be Secure")
        if not self.name or any(c in self.name for c in ' ;,="\t\r\n'):
            raise ConfigurationError(f"invalid cookie name {self.name!r}")
        # Browsers drop prefixed cookies whose attributes break the prefix's rule (RFC 6265bis §4.1.3).
        if self.name.startswith(("__Secure-", "__Host-")) and not self.secure:
            raise ConfigurationError(f"a {self.name.split('-')[0]}- cookie must be Secure")
        if self.name.startswith("__Host-") and (self.path != "/" or self.domain is not None):
            raise ConfigurationError("a __Host- cookie needs path='/' and no domain")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How long and how an operation is held and retried while the store fails over.

    .. versionadded:: 0.1
    """

    #: Seconds an operation may be held (retried) before ``StoreUnavailable`` is raised.
    hold_budget: float = 10.0
    #: First backoff delay in seconds (full jitter up to it).
    backoff_base: float = 0.01
    #: Largest backoff delay in seconds.
    backoff_cap: float = 0.25
    #: Operations that may be held at once per store; beyond it, fail fast.
    max_held: int = 10_000
    #: Seconds suggested to clients in ``Retry-After`` when the store stays unavailable.
    retry_after: int = 5

    def __post_init__(self) -> None:
        if self.hold_budget < 0 or self.backoff_base <= 0 or self.backoff_cap < self.backoff_base:
            raise ConfigurationError("invalid RetryPolicy timings")
        if self.max_held < 1:
            raise ConfigurationError("max_held must be >= 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class DurabilityPolicy:
    """What counts as an acknowledged write.

    ``"async"`` is plain Redis: a write is acknowledged once the master applied it.
    ``"replicated"`` also waits (``WAIT``) until ``replicas`` replicas have it; a short
    count is not an acknowledgement and the write is retried until the hold budget ends.

    .. versionadded:: 0.1
    """

    #: ``"async"`` (acknowledged once the master applied it) or ``"replicated"`` (also ``WAIT``).
    mode: Durability = "async"
    #: Replicas that must confirm a write in ``replicated`` mode.
    replicas: int = 1
    #: Milliseconds one ``WAIT`` may block.
    wait_timeout_ms: int = 500

    def __post_init__(self) -> None:
        if self.mode not in ("async", "replicated"):
            raise ConfigurationError(f"unknown durability mode {self.mode!r}")
        if self.replicas < 1 or self.wait_timeout_ms < 1:
            raise ConfigurationError("replicated durability needs replicas >= 1 and a timeout")


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPolicy:
    """Lifetime, size and concurrency rules of sessions.

    .. versionadded:: 0.1
    """

    #: Sliding (idle) timeout in seconds: a session unused this long expires.
    idle_timeout: int = 14 * 24 * 3600
    #: Absolute lifetime in seconds, whatever the activity.
    absolute_timeout: int = 30 * 24 * 3600
    #: The sliding TTL is refreshed at most once per this many seconds (throttle).
    touch_interval: int = 60
    #: Largest encoded session, in bytes.
    max_size: int = 64 * 1024
    #: ``"merge"``: concurrent saves of different keys both persist; same key, last writer wins.
    #: ``"cas"``: a save raises ``ConcurrentUpdate`` if another save landed since the load.
    concurrency: Concurrency = "merge"
    #: Key prefix in Redis.
    key_prefix: str = "hs"
    #: Seconds a destroyed session's tombstone is kept (blocks in-flight resurrection).
    tombstone_ttl: int = 3600

    def __post_init__(self) -> None:
        if not 0 < self.idle_timeout <= self.absolute_timeout:
            raise ConfigurationError("need 0 < idle_timeout <= absolute_timeout")
        if self.touch_interval < 0 or self.touch_interval >= self.idle_timeout:
            raise ConfigurationError("touch_interval must be in [0, idle_timeout)")
        if self.max_size < 256:
            raise ConfigurationError("max_size must be at least 256 bytes")
        if self.concurrency not in ("merge", "cas"):
            raise ConfigurationError(f"unknown concurrency mode {self.concurrency!r}")
        if not self.key_prefix or "{" in self.key_prefix or "}" in self.key_prefix:
            raise ConfigurationError("key_prefix must be non-empty and free of braces")
