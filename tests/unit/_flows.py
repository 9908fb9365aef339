"""Helpers of the flow tests (``test_flows.py``, ``test_flows_save.py``): a context, a driver that plays
Redis with canned replies, and readers of the batches the flows yield."""

from __future__ import annotations

from typing import Any, TypeVar

from hasession._codec import Codec
from hasession._commands import Batch, Eval, Flow
from hasession._config import DurabilityPolicy, Secret, SessionPolicy
from hasession._flows import SessionFlows, _context
from hasession._ids import IdCodec, SessionId
from hasession._keys import KeySchema
from hasession._scripts import SAVE
from hasession._session import Session, state_of

T = TypeVar("T")
Reply = Any

KEY = Secret("k" * 32)
ENCRYPTION_KEY = Secret("e" * 32)
NOW = 1_700_000_000_000
EXPIRES = NOW + 3_600_000  # absolute expiry of the loaded sessions
POLICY = SessionPolicy()
IDLE_MS = POLICY.idle_timeout * 1000
OK: Reply = [b"OK", b"4"]
RID = "req-1"


def make_ctx(
    *, encrypt: bool = False, durability: DurabilityPolicy | None = None, **policy: Any
) -> SessionFlows:
    return SessionFlows(
        ids=IdCodec([KEY]),
        keys=KeySchema(),
        codec=Codec([ENCRYPTION_KEY] if encrypt else ()),
        policy=SessionPolicy(**policy),
        durability=durability or DurabilityPolicy(),
    )


def drive(flow: Flow[T], *replies: list[Reply]) -> tuple[list[Batch], T]:
    """Run ``flow``, answering its batches with ``replies`` in order; all must be used."""
    batches: list[Batch] = []
    pending = list(replies)
    try:
        batch = next(flow)
        while True:
            batches.append(batch)
            assert pending, f"unexpected batch: {batch}"
            batch = flow.send(pending.pop(0))
    except StopIteration as stop:
        assert not pending, f"the flow ended with {len(pending)} replies unused"
        return batches, stop.value


def stored_hash(
    ctx: SessionFlows,
    sid: SessionId,
    data: dict[str, Any],
    *,
    version: int = 3,
    touched: int = NOW - 1_000,
    expires: int = EXPIRES,
    user: str | None = None,
) -> list[bytes]:
    """What ``HGETALL`` of a stored session returns."""
    meta = {"@c": NOW - 86_400_000, "@v": version, "@x": expires, "@t": touched, "@r": "earlier"}
    flat = [part for name, value in meta.items() for part in (name.encode(), str(value).encode())]
    for key, value in data.items():
        flat += [f".{key}".encode(), ctx.codec.encode(value, context=_context(sid.tag, key))]
    if user is not None:
        flat += [b"@u", ctx.codec.encode(user, context=_context(sid.tag, "@u"))]
    return flat


def loaded(ctx: SessionFlows, data: dict[str, Any], **meta: Any) -> Session:
    sid = ctx.ids.new()
    session = Session(sid)
    _, stored = drive(ctx.load(sid, NOW), [stored_hash(ctx, sid, data, **meta)])
    state_of(session).fill(stored)
    return session


def the_eval(batch: Batch) -> Eval:
    (command,) = batch.commands
    assert isinstance(command, Eval)
    return command


def delta(args: tuple[Any, ...]) -> tuple[dict[str, bytes], list[str]]:
    """``(fields set, fields deleted)`` from the tail of SAVE / CYCLE arguments."""
    nset = args[0]
    sets = {args[1 + 2 * i]: args[2 + 2 * i] for i in range(nset)}
    rest = args[1 + 2 * nset :]
    assert len(rest) == 1 + rest[0]
    return sets, list(rest[1:])


def save_args(batch: Batch) -> tuple[tuple[Any, ...], dict[str, bytes], list[str]]:
    command = the_eval(batch)
    assert command.script is SAVE
    return command.args[:6], *delta(command.args[6:])


def public(ctx: SessionFlows, sid: SessionId) -> str:
    return ctx.keys.public_id(sid)


def index_of(ctx: SessionFlows, user: str) -> str:
    return ctx.keys.user_index(ctx.ids.hash_user(user))
