"""The aiohttp subject, on aiohttp's own server: ``python -m bench.peers.apps_aiohttp PORT``.

Peer: aiohttp-session with its ``RedisStorage``. hasession: :mod:`hasession.aiohttp`.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web

from .common import LIFETIME, SECRET, SESSION, settings


async def _no_session(request: web.Request) -> MutableMapping[str, Any]:
    return {}


def app() -> web.Application:
    """The aiohttp app of this process's ``BENCH_VARIANT``."""
    config = settings()
    application = web.Application()
    get_session: Callable[[web.Request], Awaitable[MutableMapping[str, Any]]] = _no_session
    if config.variant == "hasession":
        import hasession
        import hasession.aiohttp

        store = hasession.AsyncSessionStore.from_url(config.url, secret_keys=SECRET)
        hasession.aiohttp.setup(application, store)
        get_session = hasession.aiohttp.get_session
    elif config.variant == "peer":
        import aiohttp_session
        from aiohttp_session.redis_storage import RedisStorage

        storage = RedisStorage(config.sentinel_client(asyncio=True), max_age=LIFETIME)
        aiohttp_session.setup(application, storage)
        get_session = aiohttp_session.get_session

    async def new(request: web.Request) -> web.Response:
        (await get_session(request)).update(SESSION)
        return web.Response(text="ok")

    async def read(request: web.Request) -> web.Response:
        return web.Response(text=str((await get_session(request)).get("user_id")))

    async def write(request: web.Request) -> web.Response:
        (await get_session(request))["counter"] = int(request.query["v"])
        return web.Response(text="ok")

    application.router.add_get("/new", new)
    application.router.add_get("/read", read)
    application.router.add_get("/write", write)
    return application


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
