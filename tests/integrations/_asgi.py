"""Helpers shared by the async adapters' tests (Starlette, FastAPI, aiohttp); their fixtures
(``server``, ``admin``, ``store``, ``anyio_backend``) are in ``conftest.py``."""

from __future__ import annotations

from hasession import RetryPolicy

__all__ = ["DEAD_BUDGET", "SECRET"]

SECRET = "asgi-tests-secret-0123456789abcd"
#: A hold budget short enough for "Redis is down" tests.
DEAD_BUDGET = RetryPolicy(hold_budget=0.3)
