"""What every subject shares: the session it keeps, its lifetime, the settings it reads from its environment.

A subject is one framework's app with one session layer (``VARIANTS``), served by its own process. The harness
starts that process with ``BENCH_*`` environment variables; the app modules read them with :func:`settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

SECRET = "bench-secret-key-0123456789abcdef"
#: Every library keeps sessions two weeks (their defaults differ).
LIFETIME = 14 * 24 * 3600
#: A typical session: a user id, a CSRF token, a theme, a 2-item cart and a flag.
SESSION: dict[str, Any] = {
    "user_id": "8f14e45f-ceea-467f-a0e6-1b3c2e8a9d55",
    "csrf_token": "d2f1c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b1c",
    "theme": "dark",
    "cart": [{"sku": "SKU-00017", "qty": 1}, {"sku": "SKU-00342", "qty": 2}],
    "beta": True,
}
#: The session layers each framework is measured with: none at all, its peer library, hasession.
VARIANTS = ("bare", "peer", "hasession")
#: The paths every app serves: create a session, read one key, set one key (``?v=N``).
PATHS = ("/new", "/read", "/write")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What a subject's process is told by the harness."""

    variant: str
    #: hasession's URL for the topology: ``redis+sentinel://...``.
    url: str
    #: The Sentinels, for the peers' own Sentinel clients.
    sentinels: list[tuple[str, int]]
    master_name: str

    def sentinel_client(self, *, asyncio: bool = False) -> Any:
        """A redis-py client of the current master, found through the Sentinels, as the peers are given."""
        if asyncio:
            from redis.asyncio.sentinel import Sentinel as AsyncSentinel

            return AsyncSentinel(self.sentinels, socket_timeout=5.0).master_for(self.master_name)
        from redis.sentinel import Sentinel

        return Sentinel(self.sentinels, socket_timeout=5.0).master_for(self.master_name)


def settings() -> Settings:
    """The :class:`Settings` in this process's environment (set by the harness)."""
    variant = os.environ["BENCH_VARIANT"]
    if variant not in VARIANTS:
        raise ValueError(f"BENCH_VARIANT must be one of {VARIANTS}, not {variant!r}")
    sentinels = []
    for address in os.environ["BENCH_SENTINELS"].split(","):
        host, _, port = address.rpartition(":")
        sentinels.append((host, int(port)))
    return Settings(
        variant=variant,
        url=os.environ["BENCH_URL"],
        sentinels=sentinels,
        master_name=os.environ["BENCH_MASTER"],
    )


def environment(variant: str, url: str, sentinels: list[tuple[str, int]], master_name: str) -> dict[str, str]:
    """The ``BENCH_*`` variables :func:`settings` reads."""
    return {
        "BENCH_VARIANT": variant,
        "BENCH_URL": url,
        "BENCH_SENTINELS": ",".join(f"{host}:{port}" for host, port in sentinels),
        "BENCH_MASTER": master_name,
    }
