"""Start the subjects' servers, drive them with concurrent users, and measure what each request cost.

One framework at a time: its three subjects (no sessions, the peer, hasession) are started together, each
in its own server process, on one Sentinel topology. Then, round after round, every subject serves one burst
of reads and one burst of one-key writes, in an order that rotates each round, so that whatever else the
machine is doing hits all subjects alike. A burst is ``users`` concurrent users, each with its own cookie
jar, sending ``per_user`` requests back to back; around it the harness reads the server's CPU time
(utime + stime of its process and its children, from ``/proc``) and Redis's (``INFO cpu``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis

from .common import PATHS, VARIANTS, environment

ROOT = Path(__file__).resolve().parents[2]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SCENARIOS = ("read", "write")


@dataclass(frozen=True, slots=True)
class Framework:
    """How to serve one framework's app, its peer library and where that peer keeps a session."""

    name: str
    peer: str
    #: ``SCAN MATCH`` patterns of one session's key, per variant (for ``MEMORY USAGE``).
    peer_keys: str

    def argv(self, port: int) -> list[str]:
        python, address = sys.executable, f"127.0.0.1:{port}"
        if self.name in ("starlette", "fastapi"):
            factory = f"bench.peers.apps_asgi:{self.name}"
            uvicorn = ["--factory", factory, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
            return [
                python,
                "-m",
                "uvicorn",
                *uvicorn,
                "--log-level",
                "warning",
                "--timeout-keep-alive",
                "600",
            ]
        if self.name in ("flask", "django"):
            gthread = ["-k", "gthread", "--threads", "8", "-w", "1", "-b", address, "--keep-alive", "600"]
            return [
                python,
                "-m",
                "gunicorn",
                *gthread,
                "--log-level",
                "warning",
                f"bench.peers.apps_wsgi:{self.name}()",
            ]
        return [python, "-m", "bench.peers.apps_aiohttp", str(port)]


FRAMEWORKS = {
    framework.name: framework
    for framework in (
        Framework("starlette", "starsessions", "starsessions.*"),
        Framework("fastapi", "starsessions", "starsessions.*"),
        Framework("flask", "Flask-Session", "session:*"),
        Framework("django", "Django cache + django-redis", ":1:django.contrib.sessions.cache*"),
        Framework("aiohttp", "aiohttp-session", "AIOHTTP_SESSION_*"),
    )
}
HASESSION_KEYS = "hs:{*}:*"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu(pid: int) -> float:
    """utime + stime of ``pid`` and of its live children (gunicorn's worker), in seconds."""
    ticks = 0
    for candidate in [pid, *children(pid)]:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            stat = Path(f"/proc/{candidate}/stat").read_text()
            fields = stat.rpartition(")")[2].split()  # fields[0] is field 3 (state); utime is field 14
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def redis_cpu(clients: list[redis.Redis]) -> float:
    """``used_cpu_sys + used_cpu_user`` summed over the data nodes (a replica applies every write too)."""
    total = 0.0
    for client in clients:
        info = client.info("cpu")
        total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    return total


@dataclass
class Server:
    """One subject: a framework's app with one session layer, in its own server process."""

    framework: Framework
    variant: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return process_cpu(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start(framework: Framework, variant: str, topology: Any, logs: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        **environment(variant, topology.url, topology.sentinel_addresses, topology.master_name),
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log = logs / f"{framework.name}-{variant}.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            framework.argv(port), cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
            start_new_session=True,
        )  # fmt: skip
    return Server(framework, variant, port, process, log)


@contextlib.contextmanager
def servers(framework: Framework, topology: Any, logs: Path) -> Iterator[list[Server]]:
    """The framework's three subjects, started, and stopped on exit whatever happens."""
    started: list[Server] = []
    try:
        for variant in VARIANTS:
            started.append(start(framework, variant, topology, logs))
        for server in started:
            wait_ready(server)
        yield started
    finally:
        for server in started:
            server.stop()


def wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.framework.name}/{server.variant} exited; see {server.log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"{server.framework.name}/{server.variant} did not listen in {timeout} s; see {server.log}"
    )


class User:
    """One user: its own connection and its own cookie jar (``name -> value``, from ``Set-Cookie``)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.client = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), connector=aiohttp.TCPConnector(limit=1)
        )
        self.jar: dict[str, str] = {}
        self.writes = 0

    async def get(self, path: str) -> float:
        """Send GET ``path`` with the jar's cookies; the seconds it took."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items())} if self.jar else None
        began = time.perf_counter()
        async with self.client.get(self.base + path, headers=headers) as response:
            await response.read()
            elapsed = time.perf_counter() - began
            if response.status != 200:
                raise RuntimeError(f"GET {self.base}{path}: HTTP {response.status}")
            for header in response.headers.getall("Set-Cookie", ()):
                self.keep(header)
        return elapsed

    def keep(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        lowered = attributes.lower().replace(" ", "")
        if not value.strip('"') or "max-age=0" in lowered or "expires=thu,01jan1970" in lowered:
            self.jar.pop(name, None)
        else:
            self.jar[name] = value

    async def run(self, scenario: str, count: int) -> list[float]:
        latencies = []
        for _ in range(count):
            if scenario == "write":
                self.writes += 1
                latencies.append(await self.get(f"/write?v={self.writes}"))
            else:
                latencies.append(await self.get("/read"))
        return latencies

    async def close(self) -> None:
        await self.client.close()


@dataclass
class Burst:
    """What one burst of one scenario on one subject cost."""

    variant: str
    scenario: str
    round: int
    requests: int
    cpu_us: float  # app process CPU per request
    redis_cpu_us: float  # the redis-servers' CPU per request (master and replica)
    seconds: float
    latencies: list[float] = field(repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "variant": self.variant,
            "scenario": self.scenario,
            "round": self.round,
            "requests": self.requests,
            "cpu_us": round(self.cpu_us, 1),
            "redis_cpu_us": round(self.redis_cpu_us, 2),
            "rps": round(self.rps, 1),
            "p50_us": round(percentile(ordered, 0.50) * 1e6, 1),
            "p99_us": round(percentile(ordered, 0.99) * 1e6, 1),
        }


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def burst(
    server: Server, users: list[User], scenario: str, per_user: int, nodes: list[redis.Redis], n: int
) -> Burst:
    redis_before, cpu_before, began = redis_cpu(nodes), server.cpu(), time.perf_counter()
    results = await asyncio.gather(*(user.run(scenario, per_user) for user in users))
    seconds = time.perf_counter() - began
    cpu, redis_used = server.cpu() - cpu_before, redis_cpu(nodes) - redis_before
    requests = len(users) * per_user
    latencies = [latency for result in results for latency in result]
    return Burst(
        server.variant,
        scenario,
        n,
        requests,
        cpu / requests * 1e6,
        redis_used / requests * 1e6,
        seconds,
        latencies,
    )


def bytes_per_session(master: redis.Redis, pattern: str, sample: int = 20) -> float | None:
    """Mean ``MEMORY USAGE`` of up to ``sample`` keys matching ``pattern``."""
    sizes = []
    for key in master.scan_iter(match=pattern, count=1000):
        sizes.append(int(master.memory_usage(key, samples=0) or 0))
        if len(sizes) >= sample:
            break
    return statistics.fmean(sizes) if sizes else None


@dataclass
class FrameworkResult:
    framework: Framework
    bursts: list[Burst] = field(default_factory=list)
    bytes: dict[str, float | None] = field(default_factory=dict)


async def measure(
    framework: Framework, topology: Any, *, users: int, per_user: int, rounds: int, logs: Path
) -> FrameworkResult:
    """Every round, each subject of ``framework`` serves a read burst and a write burst, in rotating order."""
    topology.flushall()
    master = topology.current_master().client()
    nodes = [node.client() for node in topology.nodes]
    result = FrameworkResult(framework)
    with servers(framework, topology, logs) as started:
        crowds = {server.variant: [User(server.base) for _ in range(users)] for server in started}
        try:
            for server in started:  # every user gets a session (a typical one: common.SESSION)
                await asyncio.gather(*(user.get(PATHS[0]) for user in crowds[server.variant]))
            result.bytes = {
                "peer": bytes_per_session(master, framework.peer_keys),
                "hasession": bytes_per_session(master, HASESSION_KEYS),
            }
            for server in started:  # warm up
                for scenario in SCENARIOS:
                    await asyncio.gather(*(user.run(scenario, 5) for user in crowds[server.variant]))
            plan = [(server, scenario) for server in started for scenario in SCENARIOS]
            for n in range(rounds):
                shift = (n * 2 + n // len(plan)) % len(plan)
                for server, scenario in plan[shift:] + plan[:shift]:
                    result.bursts.append(
                        await burst(server, crowds[server.variant], scenario, per_user, nodes, n)
                    )
                progress(f"  {framework.name}: round {n + 1}/{rounds} done")
        finally:
            for crowd in crowds.values():
                for user in crowd:
                    await user.close()
    return result


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
