"""The session cost measured in one process, without a server or a network client: for profiling.

    .venv/bin/python -m bench.peers.inproc flask [--variants bare,peer,hasession] [--scenario read]
        [--requests 2000] [--profile hasession] [--top 40]

Builds the bench's apps (the same modules ``python -m bench.peers`` serves) in this process, on a
Sentinel topology, and calls each one directly: a WSGI app with a WSGI environ, an ASGI app with an
ASGI scope, an aiohttp app through its request handler with a mocked request. One user: a session is
created with ``/new``, then ``--requests`` reads or one-key writes are sent with its cookie. For each
variant it prints the CPU time per request (``time.process_time``; one process, so no server and no
client in it but what the call itself does), and, with ``--profile VARIANT``, the cProfile of that
variant's requests.

The figures are not the bench's (no server, no socket I/O on the app side, no concurrency), but their
difference between variants moves with the session layer's cost, fast enough to try a change in
seconds. ``python -m bench.peers`` remains the measure to report.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import resource
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

from hasession.testing import SentinelTopology

from .common import VARIANTS, environment

FRAMEWORKS = ("starlette", "fastapi", "flask", "django", "aiohttp")
#: One request: ``(path, query, cookie header) -> (status, Set-Cookie values)``.
Call = Callable[[str, str, str], Awaitable[tuple[int, list[str]]]]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.inproc", description=__doc__)
    parser.add_argument("framework", choices=FRAMEWORKS)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--scenario", choices=("read", "write"), default="read")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="measurements per variant (median shown)")
    parser.add_argument("--profile", default="", help="the variant to profile (cProfile)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--threads", type=int, default=1, help="WSGI only: users in threads, as gthread")
    parser.add_argument("--callees", default="", help="also print what functions matching this call")
    return parser.parse_args()


def wsgi_caller(app: Any) -> Call:
    async def call(path: str, query: str, cookie: str) -> tuple[int, list[str]]:
        environ = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if cookie:
            environ["HTTP_COOKIE"] = cookie
        seen: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.append((int(status.split()[0]), [v for k, v in headers if k.lower() == "set-cookie"]))
            return lambda data: None

        body = app(environ, start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()
        return seen[0]

    return call


def asgi_caller(app: Any) -> Call:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def call(path: str, query: str, cookie: str) -> tuple[int, list[str]]:
        headers = [(b"host", b"127.0.0.1:8000")]
        if cookie:
            headers.append((b"cookie", cookie.encode("latin-1")))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        answer: list[Any] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                cookies = [v.decode() for k, v in message["headers"] if k.lower() == b"set-cookie"]
                answer.append((message["status"], cookies))

        await app(scope, receive, send)
        return answer[0]

    return call


async def aiohttp_caller(app: Any) -> Call:
    from aiohttp.test_utils import make_mocked_request
    from multidict import CIMultiDict, CIMultiDictProxy

    app.freeze()
    await app.startup()
    base = make_mocked_request("GET", "/", app=app)  # a mocked request is slow to make: clone one

    async def call(path: str, query: str, cookie: str) -> tuple[int, list[str]]:
        headers = CIMultiDict(Host="127.0.0.1:8000")
        if cookie:
            headers["Cookie"] = cookie
        url = f"{path}?{query}" if query else path
        request = base.clone(rel_url=url, headers=CIMultiDictProxy(headers))
        response = await app._handle(request)
        cookies = response.headers.getall("Set-Cookie", [])
        cookies += [morsel.OutputString() for morsel in response.cookies.values()]
        return response.status, cookies

    return call


async def build(framework: str, variant: str, topology: Any) -> Call:
    os.environ.update(environment(variant, topology.url, topology.sentinel_addresses, topology.master_name))
    if framework in ("flask", "django"):
        from . import apps_wsgi

        if framework == "django":  # Django's settings are process-wide: one variant per process
            return wsgi_caller(apps_wsgi.django())
        return wsgi_caller(apps_wsgi.flask())
    if framework in ("starlette", "fastapi"):
        from . import apps_asgi

        app = getattr(apps_asgi, framework)()
        return asgi_caller(app)
    from . import apps_aiohttp

    return await aiohttp_caller(apps_aiohttp.app())


class Jar:
    """One user's cookies."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def take(self, set_cookies: list[str]) -> None:
        for header in set_cookies:
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.values.pop(name, None)
                else:
                    self.values[name] = morsel.value

    def header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.values.items())


async def burst(call: Call, jar: Jar, scenario: str, count: int) -> None:
    for i in range(count):
        query = f"v={i}" if scenario == "write" else ""
        status, cookies = await call(f"/{scenario}", query, jar.header())
        if status != 200:
            raise RuntimeError(f"/{scenario} answered {status}")
        jar.take(cookies)


def threaded(call: Call, scenario: str, count: int, threads: int) -> None:
    """``count`` requests from ``threads`` users at once, each in its own thread (WSGI apps only)."""

    async def user() -> None:
        jar = Jar()
        jar.take((await call("/new", "", ""))[1])
        await burst(call, jar, scenario, count // threads)

    workers = [threading.Thread(target=asyncio.run, args=(user(),)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


async def measure(call: Call, args: argparse.Namespace, variant: str) -> list[float]:
    jar = Jar()
    status, cookies = await call("/new", "", "")
    jar.take(cookies)
    if status != 200 or (variant != "bare" and not jar.values):
        raise RuntimeError(f"/new answered {status} with no cookie")
    await burst(call, jar, args.scenario, 200)  # warm up
    figures: list[float] = []
    switches: list[float] = []
    for _ in range(args.repeat):
        gc.collect()
        start, before = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
        if args.threads > 1:
            threaded(call, args.scenario, args.requests, args.threads)
        else:
            await burst(call, jar, args.scenario, args.requests)
        figures.append((time.process_time() - start) / args.requests * 1e6)
        after = resource.getrusage(resource.RUSAGE_SELF)
        switches.append(
            (after.ru_nvcsw + after.ru_nivcsw - before.ru_nvcsw - before.ru_nivcsw) / args.requests
        )
    if args.profile == variant:
        profiler = cProfile.Profile(time.process_time)  # CPU time: a blocking recv costs nothing
        profiler.enable()
        await burst(call, jar, args.scenario, args.requests)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(args.sort).print_stats(args.top)
        by_file: dict[str, float] = {}
        for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            by_file[filename] = by_file.get(filename, 0.0) + own
        print("own time per file, µs per request:")
        for filename, own in sorted(by_file.items(), key=lambda item: -item[1])[: args.top]:
            print(f"{own / args.requests * 1e6:8.1f}  {filename}")
        if args.callees:
            stats.print_callees(args.callees)
        print(out.getvalue())
    print(f"context switches per request: {sorted(switches)[len(switches) // 2]:.1f}")
    return figures


async def main() -> None:
    args = arguments()
    variants = args.variants.split(",")
    if args.framework == "django" and len(variants) > 1:
        sys.exit("django: one --variants per process (its settings are global)")
    with SentinelTopology(replicas=1) as topology:
        for variant in variants:
            call = await build(args.framework, variant, topology)
            figures = await measure(call, args, variant)
            middle = sorted(figures)[len(figures) // 2]
            shown = ", ".join(f"{f:.0f}" for f in sorted(figures))
            print(f"{args.framework}/{variant} {args.scenario}: {middle:.0f} µs [{shown}]")


if __name__ == "__main__":
    asyncio.run(main())
