"""Helpers shared by the async adapters' tests (Starlette, FastAPI, aiohttp); their fixtures
(``server``, ``admin``, ``store``, ``anyio_backend``) are in ``conftest.py``."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from hasession import RetryPolicy

__all__ = ["DEAD_BUDGET", "SECRET", "Gate"]

SECRET = "asgi-tests-secret-0123456789abcd"
#: A hold budget short enough for "Redis is down" tests.
DEAD_BUDGET = RetryPolicy(hold_budget=0.3)


@dataclass
class Gate:
    """Holds requests after they loaded their session until the test releases them."""

    expected: int
    arrived: int = 0
    all_arrived: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event = field(default_factory=anyio.Event)

    async def pass_(self) -> None:
        self.arrived += 1
        if self.arrived == self.expected:
            self.all_arrived.set()
        await self.release.wait()
