"""Pure helpers of ``hasession sessions`` and ``hasession stats``: key names to public ids,
stored metadata to rows, and TTL spreads. No I/O, so they are unit-tested without Redis.

A session lives in the hash ``<prefix>:{<tag>}:<hash>`` (see ``hasession._keys``); its public
id is ``<tag>.<hash>``: the at-rest hash of the id, from which no cookie can be rebuilt.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import orjson

__all__ = ["META", "Row", "Spread", "key_pattern", "public_id_of", "row_of"]

#: The metadata fields read per session: created, last touch, absolute expiry, version,
#: tombstone, user id (see ``hasession._scripts``).
META = ("@c", "@t", "@x", "@v", "@d", "@u")
_ENCRYPTED = b"\x01"  # first byte of a value sealed by the codec
_GLOB = re.compile(r"([*?\[\]\\])")
#: TTL buckets of ``stats``: label, upper bound in seconds.
BUCKETS = (("< 1 h", 3600), ("< 1 day", 86400), ("< 7 days", 7 * 86400), ("< 30 days", 30 * 86400))


def key_pattern(prefix: str) -> str:
    """The SCAN MATCH pattern of every session hash under *prefix* (not the user indexes)."""
    return _GLOB.sub(r"\\\1", prefix) + ":{*}:*"


def public_id_of(prefix: str, key: str) -> str | None:
    """``<tag>.<hash>`` for a session key, None for any other key."""
    rest = key.removeprefix(prefix + ":")
    if rest == key or not rest.startswith("{") or "}:" not in rest:
        return None
    tag, _, hashed = rest[1:].partition("}:")
    return f"{tag}.{hashed}" if tag and hashed else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One stored session, as the operator commands show it: nothing in it can log anyone in."""

    public_id: str
    created_ms: int
    last_seen_ms: int
    expires_ms: int
    ttl_ms: int
    #: The user id, when stored in clear; ``"(encrypted)"`` when sealed; None: anonymous.
    user: str | None
    tombstone: bool = False


def _int(raw: bytes | None) -> int:
    return int(raw) if raw else 0


def _user(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    if raw[:1] == _ENCRYPTED:
        return "(encrypted)"
    try:
        return str(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return "(undecodable)"


def row_of(public_id: str, meta: list[bytes | None], ttl_ms: int) -> Row:
    """A row from the ``HMGET`` of :data:`META` and the key's ``PTTL``."""
    created, seen, expires, _version, dead, user = meta
    return Row(
        public_id=public_id,
        created_ms=_int(created),
        last_seen_ms=_int(seen),
        expires_ms=_int(expires),
        ttl_ms=ttl_ms,
        user=_user(user),
        tombstone=dead is not None,
    )


@dataclass(slots=True)
class Spread:
    """Count, min, max, percentiles (from a uniform sample) and buckets of TTLs, in one pass."""

    sample_size: int = 10_000
    count: int = 0
    low: int | None = None
    high: int | None = None
    sample: list[int] = field(default_factory=list)
    buckets: dict[str, int] = field(
        default_factory=lambda: {label: 0 for label, _ in (*BUCKETS, (">= 30 days", 0))}
    )
    _random: random.Random = field(default_factory=lambda: random.Random(0))

    def add(self, ttl_ms: int) -> None:
        self.count += 1
        self.low = ttl_ms if self.low is None else min(self.low, ttl_ms)
        self.high = ttl_ms if self.high is None else max(self.high, ttl_ms)
        if len(self.sample) < self.sample_size:
            self.sample.append(ttl_ms)
        elif (slot := self._random.randrange(self.count)) < self.sample_size:
            self.sample[slot] = ttl_ms  # reservoir sampling: every TTL kept with equal probability
        label = next((name for name, bound in BUCKETS if ttl_ms < bound * 1000), ">= 30 days")
        self.buckets[label] += 1

    def percentile(self, fraction: float) -> int | None:
        if not self.sample:
            return None
        ordered = sorted(self.sample)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self) -> dict[str, object]:
        """Seconds: min, p50, p90, max, and the count per bucket."""

        def seconds(ms: int | None) -> float | None:
            return None if ms is None else round(ms / 1000, 1)

        return {
            "min_s": seconds(self.low),
            "p50_s": seconds(self.percentile(0.5)),
            "p90_s": seconds(self.percentile(0.9)),
            "max_s": seconds(self.high),
            "buckets": dict(self.buckets),
        }
