"""Typed wrappers for the few Redis commands the harness sends to its own nodes.

redis-py's command methods return ``Awaitable[Any] | Any`` and ``execute_command`` is unannotated, so the
harness goes through :func:`command` and parses replies into plain types here, once.
"""

from __future__ import annotations

from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = [
    "admin_client",
    "command",
    "info",
    "pairs",
    "role",
    "sentinel_master",
    "sentinel_master_address",
    "sentinel_peers",
]

#: The harness never polls a paused node (it checks /proc first) and reaches cut nodes on their direct port,
#: so this only bounds a stall. It is generous: a busy CI disk can hold a Sentinel's config fsync that long.
ADMIN_TIMEOUT = 5.0
#: While a server starts, its port may still belong to another program that accepts and never answers.
PROBE_TIMEOUT = 0.5


class _Executor(Protocol):
    def execute_command(self, *args: str | int | bytes) -> object: ...


def admin_client(
    host: str, port: int, *, timeout: float = ADMIN_TIMEOUT, password: str | None = None
) -> redis.Redis:
    """A client with short timeouts and no retries, decoding replies to ``str``."""
    return redis.Redis(
        host=host,
        port=port,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
        client_name="hasession-testing",
        protocol=2,
    )


def command(client: redis.Redis, *args: str | int | bytes) -> object:
    """Send one command and return redis-py's parsed reply."""
    executor: _Executor = client
    return executor.execute_command(*args)


def info(client: redis.Redis, section: str) -> dict[str, object]:
    """``INFO <section>`` as a dict."""
    reply = command(client, "INFO", section)
    if not isinstance(reply, dict):
        raise redis.ResponseError(f"unexpected INFO reply: {reply!r}")
    return {str(key): value for key, value in reply.items()}


def role(client: redis.Redis) -> str:
    """The first element of ``ROLE``: ``master``, ``slave`` or ``sentinel``."""
    reply = command(client, "ROLE")
    if not isinstance(reply, list) or not reply:
        raise redis.ResponseError(f"unexpected ROLE reply: {reply!r}")
    return str(reply[0])


def pairs(reply: object) -> dict[str, str]:
    """A Sentinel reply (a map in RESP3, a flat ``[key, value, ...]`` list in RESP2) as a dict of strings."""
    if isinstance(reply, dict):
        return {str(key): str(value) for key, value in reply.items()}
    if not isinstance(reply, list):
        raise redis.ResponseError(f"unexpected reply: {reply!r}")
    return {str(key): str(value) for key, value in zip(reply[::2], reply[1::2], strict=True)}


def sentinel_master(client: redis.Redis, name: str) -> dict[str, str]:
    """``SENTINEL MASTER <name>`` as a dict of strings."""
    return pairs(command(client, "SENTINEL", "MASTER", name))


def sentinel_peers(client: redis.Redis, kind: str, name: str) -> list[dict[str, str]]:
    """``SENTINEL REPLICAS|SENTINELS <name>`` as a list of dicts of strings."""
    reply = command(client, "SENTINEL", kind, name)
    return [pairs(item) for item in reply] if isinstance(reply, list) else []


def sentinel_master_address(client: redis.Redis, name: str) -> tuple[str, int] | None:
    """``SENTINEL GET-MASTER-ADDR-BY-NAME <name>``, or None when the Sentinel does not know the name."""
    reply = command(client, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
    if not isinstance(reply, list) or len(reply) != 2:
        return None
    return str(reply[0]), int(reply[1])
