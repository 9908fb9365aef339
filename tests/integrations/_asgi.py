"""Helpers shared by the async adapters' tests (Starlette, FastAPI, aiohttp); their fixtures
(``server``, ``admin``, ``store``, ``anyio_backend``) are in ``conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer

from hasession import RetryPolicy

__all__ = ["DEAD_BUDGET", "SECRET", "serve"]

SECRET = "asgi-tests-secret-0123456789abcd"
#: A hold budget short enough for "Redis is down" tests.
DEAD_BUDGET = RetryPolicy(hold_budget=0.3)


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[httpx.AsyncClient]:
    """An aiohttp ``app`` on a real loopback server, and an httpx client of it that keeps no cookie."""
    async with TestServer(app, host="127.0.0.1") as test_server:
        jar = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
        async with httpx.AsyncClient(base_url=str(test_server.make_url("")), cookies=jar) as client:
            yield client
