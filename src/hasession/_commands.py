"""The contract between the sans-IO flows and the drivers.

A flow yields :class:`Batch` values and receives their replies. A batch is sent in one round
trip on one connection to the node that owns ``route``. Every command in it has an
idempotent form, so the drivers may resend a whole batch when its outcome is unknown
(docs/design.md, *Every batch can be resent*).
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

import hiredis

from ._exceptions import NotReplicated, StoreError
from ._topology import Address

__all__ = ["Arg", "Batch", "Call", "Command", "Degraded", "Eval", "Flow", "Reply", "Script", "pack", "text"]

Arg: TypeAlias = "str | bytes | int | float"
Reply: TypeAlias = object
T = TypeVar("T")
_pack_command = hiredis.pack_command


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script, sent with ``EVALSHA`` and re-sent with ``EVAL`` after ``NOSCRIPT``."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


# Not frozen: a frozen dataclass sets each field through object.__setattr__, and one Batch (with
# an Eval) is built per round trip, 1 to 2 µs each; nothing changes one once built.
@dataclass(slots=True)
class Call:
    """A plain command."""

    args: tuple[Arg, ...]


@dataclass(slots=True)
class Eval:
    """A script call with its keys and arguments."""

    script: Script
    keys: tuple[str, ...]
    args: tuple[Arg, ...]

    def as_args(self, *, by_sha: bool) -> tuple[Arg, ...]:
        head: tuple[Arg, ...] = ("EVALSHA", self.script.sha) if by_sha else ("EVAL", self.script.source)
        return (*head, len(self.keys), *self.keys, *self.args)


Command: TypeAlias = "Call | Eval"


def pack(commands: Sequence[tuple[Arg, ...]]) -> bytes:
    """Commands as RESP arrays of bulk strings, one buffer (the bytes redis-py's ``pack_commands`` gives,
    packed by hiredis in C): ``str`` as UTF-8, ``int`` and ``float`` as their ``repr``; a ``bool`` or
    ``None`` is refused (``TypeError``)."""
    return b"".join([_pack_command(_words(command)) for command in commands])  # type: ignore[arg-type]


def _words(command: tuple[Arg, ...]) -> tuple[Arg, ...]:
    """``("CLUSTER NODES",)`` as ``("CLUSTER", "NODES")``: one word per argument."""
    name = command[0]
    if isinstance(name, str) and " " in name:
        return (*name.split(), *command[1:])
    return command


@dataclass(slots=True)
class Batch:
    """Commands sent together, in order, on one connection, in one round trip."""

    commands: tuple[Command, ...]
    #: A key of the batch; on a Cluster it picks the node (all keys share its slot).
    route: str
    #: Whether it writes (and so must reach a master, and waits per durability).
    write: bool = True
    #: Replicas ``WAIT`` must confirm after the batch (0: no ``WAIT``).
    wait_replicas: int = 0
    wait_timeout_ms: int = 0
    #: Send to this node, once: its errors are thrown into the flow instead of retried
    #: (used by discovery, which moves on to the next Sentinel itself).
    node: Address | None = None
    #: Prefix ``ASKING`` (Cluster: one batch redirected by ``ASK`` during a resharding).
    asking: bool = False
    #: Seconds to wait for the replies instead of the connection's socket timeout (probes
    #: must not hang on a frozen node: a SIGSTOPped master still accepts TCP connections).
    timeout: float | None = None
    #: A read-only twin a replica may answer while no master is known (degraded reads).
    fallback: Batch | None = None
    #: This batch is such a twin: its replies come back wrapped in :class:`Degraded`.
    degraded: bool = False
    #: The node that answered this batch's previous try served stale data (the version fence,
    #: ``_fence.py``): the router forgets it and its connections are dropped before this one is sent.
    refresh: bool = False

    def wire(self, *, by_sha: bool = True) -> list[tuple[Arg, ...]]:
        """The commands as argument tuples, with the ``WAIT`` appended when asked."""
        out = [c.as_args(by_sha=by_sha) if isinstance(c, Eval) else c.args for c in self.commands]
        if self.asking:
            out.insert(0, ("ASKING",))
        if self.wait_replicas:
            out.append(("WAIT", self.wait_replicas, self.wait_timeout_ms))
        return out

    def settle(self, replies: list[Reply]) -> list[Reply]:
        """Raise the first error reply; check ``WAIT`` (short is not acknowledged) and drop it."""
        for reply in replies:
            if isinstance(reply, StoreError):
                raise reply
        if self.asking:
            replies = replies[1:]
        if self.degraded:
            return [Degraded(r) for r in replies]
        if not self.wait_replicas:
            return replies
        acked = replies[-1]
        if not isinstance(acked, int) or acked < self.wait_replicas:
            raise NotReplicated(f"WAIT confirmed {acked} of {self.wait_replicas} replicas")
        return replies[:-1]


@dataclass(frozen=True, slots=True)
class Degraded:
    """A reply read from a replica (possibly stale) because no master was known."""

    value: Reply


Flow: TypeAlias = Generator[Batch, "list[Reply]", T]


def text(reply: object) -> str:
    """A reply element as ``str`` (RESP2 bulk strings arrive as ``bytes``)."""
    return reply.decode() if isinstance(reply, bytes) else str(reply)
