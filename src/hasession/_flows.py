"""Sans-IO operations: pure generators that yield batches of commands and get replies.

Nothing here touches a socket or a clock: the drivers pass ``now_ms`` and a request id in,
run the batches, and retry a batch whose outcome is unknown (every batch is idempotent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import orjson

from ._codec import Codec
from ._commands import Batch, Call, Degraded, Eval, Flow, Reply, Script, text
from ._config import DurabilityPolicy, SessionPolicy
from ._exceptions import (
    ConcurrentUpdate,
    SessionDataError,
    SessionTooLarge,
    StoreResponseError,
    UndecodableSession,
)
from ._fence import VersionFence
from ._ids import IdCodec, SessionId
from ._keys import KeySchema
from ._results import KEEP, SaveResult, SessionInfo
from ._scripts import CANARY, CYCLE, DESTROY, INDEX_ADD, LOAD, LOAD_FENCED, SAVE
from ._session import SessionState, StoredSession

__all__ = ["SessionFlows"]

log = logging.getLogger("hasession")
_DATA = "."
_USER = "@u"
_DATA_FIELD, _USER_FIELD = _DATA.encode(), _USER.encode()
_NOT_A_HASH = b"@!"  # LOAD's answer for a key of another type
_TOMBSTONE = b"@d"
_BYTES = frozenset({bytes})


@dataclass(frozen=True, slots=True, kw_only=True)
class _Delta:
    """What one save writes: encoded fields to set, fields to delete, and the JSON of each
    changed value (the session's new baseline for change detection)."""

    sets: dict[str, bytes]
    dels: set[str]
    plain: dict[str, bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionFlows:
    """The sans-IO operations of one store (load, save, revoke, ...) and everything they need,
    built once per store."""

    ids: IdCodec
    keys: KeySchema
    codec: Codec
    policy: SessionPolicy
    durability: DurabilityPolicy
    #: Whether a load offers its replica twin (``StoreConfig.degraded_reads`` is set).
    degraded_reads: bool = False
    #: The versions this process acknowledged: a load never goes back before them (``_fence.py``).
    fence: VersionFence = field(default_factory=VersionFence)
    # Derived once (each request's path reads them).
    _load_script: Script = field(init=False, repr=False)
    _load_tail: tuple[int, int] = field(init=False, repr=False)
    _wait: tuple[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        p, durable = self.policy, self.durability.mode == "replicated"
        object.__setattr__(self, "_load_script", LOAD_FENCED if durable else LOAD)
        object.__setattr__(self, "_load_tail", (p.idle_timeout * 1000, p.touch_interval * 1000))
        wait = (self.durability.replicas, self.durability.wait_timeout_ms) if durable else (0, 0)
        object.__setattr__(self, "_wait", wait)

    # -- batches -----------------------------------------------------------------------------

    def write(self, route: str, *commands: Call | Eval) -> Batch:
        replicas, timeout_ms = self._wait
        return Batch(commands, route=route, wait_replicas=replicas, wait_timeout_ms=timeout_ms)

    # -- flows -------------------------------------------------------------------------------

    def load(self, sid: SessionId, now_ms: int) -> Flow[StoredSession | None]:
        """Read a session and refresh its sliding TTL when due, in one round trip."""
        key = self.keys.data(sid)
        floor = self.fence.floor(key)  # before the read: a save acknowledged meanwhile may be missing
        script = Eval(self._load_script, (key,), (now_ms, *self._load_tail))
        replica = None
        if self.degraded_reads:
            replica = Batch((Call(("HGETALL", key)),), route=key, write=False, degraded=True)
        (reply,) = yield Batch((script,), route=key, fallback=replica)
        degraded = isinstance(reply, Degraded)
        if isinstance(reply, Degraded):
            reply = reply.value
        stored = None if not reply else self._decode_or_none(sid, reply, now_ms)
        if stored is None or stored.expires_ms <= now_ms:  # a replica does not run LOAD's check
            return None
        stored.degraded = degraded
        stored.touched = stored.touched and not degraded  # a replica refreshed no TTL
        if stored.version != floor and not degraded:  # the version fence (_fence.py)
            if stored.version < floor:
                return (yield from self._reread(sid, key, script, floor, now_ms))
            self.fence.saw(key, stored.version)
        return stored

    def _reread(
        self, sid: SessionId, key: str, script: Eval, floor: int, now_ms: int
    ) -> Flow[StoredSession | None]:
        """A load read a version older than ``floor`` from a stale node: read it again once the
        driver has forgotten that node, and take what the master found then serves."""
        self.fence.stale()
        (reply,) = yield Batch((script,), route=key, refresh=True)
        stored = None if not reply else self._decode_or_none(sid, reply, now_ms)
        if stored is None or stored.expires_ms <= now_ms:
            self.fence.forget(key)
            return None
        if stored.version < floor:
            self.fence.lost(key, self.keys.public_id(sid), stored.version, floor)
        self.fence.saw(key, stored.version)
        return stored

    def save(self, session: SessionState, now_ms: int, rid: str) -> Flow[SaveResult]:
        """Write what the request changed: nothing, a delta, a new session, an id cycle or a delete."""
        if session.destroyed:
            return (yield from self._destroy(session))
        if not session.loaded:
            return KEEP
        if session.stored is None or session.sid is None:
            return (yield from self._create(session, now_ms, rid))
        delta = self._delta(session, session.sid.tag)
        if session.cycle_requested:
            return (yield from self._cycle(session, session.sid, delta, now_ms, rid))
        if not delta.sets and not delta.dels and not session.user_changed:
            return self._kept(session, session.sid, wrote=False)
        return (yield from self._update(session, session.sid, delta, now_ms, rid))

    def untouched(self, session: SessionState) -> SaveResult | None:
        """What :meth:`save` returns when it has nothing to write, found without building the flow;
        ``None`` when the save may write (the flow then decides)."""
        if session.destroyed:
            return None
        if not session.loaded:
            return KEEP
        sid = session.sid
        if sid is None or session.stored is None or session.modified:
            return None
        return self._kept(session, sid, wrote=False)

    def revoke(self, public_id: str, user_id: str | None) -> Flow[bool]:
        """Destroy a session by its public id (and drop it from its user's index)."""
        key = self.keys.data_for_public(public_id)
        (deleted,) = yield self.write(key, Eval(DESTROY, (key,), (self.policy.tombstone_ttl * 1000,)))
        self.fence.forget(key)
        if user_id is not None:
            index = self.keys.user_index(self.ids.hash_user(user_id))
            yield self.write(index, Call(("ZREM", index, public_id)))
        return bool(deleted)

    def sessions_of(self, user_id: str, now_ms: int) -> Flow[list[SessionInfo]]:
        """The live sessions of a user, oldest first."""
        index = self.keys.user_index(self.ids.hash_user(user_id))
        (members,) = yield Batch((Call(("ZRANGEBYSCORE", index, now_ms, "+inf")),), route=index, write=False)
        found = []
        for member in members:  # type: ignore[attr-defined]
            public_id = text(member) if _is_utf8(member) else None
            if public_id is None:
                continue  # not a member hasession wrote
            key = self.keys.data_for_public(public_id)
            (meta,) = yield Batch((Call(("HMGET", key, "@c", "@t", "@x")),), route=key, write=False)
            if not (isinstance(meta, list) and all(isinstance(v, bytes) and v.isdigit() for v in meta)):
                continue  # gone (all nil), or metadata someone else wrote
            created, seen, expires = (int(v) for v in meta)
            if expires > now_ms:
                found.append(
                    SessionInfo(
                        public_id=public_id, created_ms=created, last_seen_ms=seen, expires_ms=expires
                    )
                )
        return found

    def canary(self, token: str) -> Flow[list[str]]:
        """Read the store's canary, planting ``token`` if there is none: ``[status, token]``."""
        key = f"{self.keys.prefix}:canary"
        (reply,) = yield self.write(key, Eval(CANARY, (key,), (token,)))
        return _status(reply)

    def public_id(self, session: SessionState) -> str | None:
        """The loggable id of a stored session (``None`` for one that is new or not loaded)."""
        if session.sid is None or session.stored is None:
            return None
        return self.keys.public_id(session.sid)

    # -- save paths --------------------------------------------------------------------------

    def _create(self, session: SessionState, now_ms: int, rid: str) -> Flow[SaveResult]:
        expires = now_ms + self.policy.absolute_timeout * 1000
        while True:  # a fresh id: never adopt an id a client made up (session fixation)
            sid = self.ids.new()
            delta = self._delta(session, sid.tag)  # values are sealed to their session's tag
            if not delta.sets:
                return SaveResult(cookie="delete") if session.sid is not None else KEEP
            status = yield from self._run_save(sid, "c", delta.sets, (), now_ms, rid, expires)
            if status[0] != "COLLISION":
                break
        yield from self._index(session, sid, None, expires, now_ms)
        self.fence.saw(self.keys.data(sid), int(status[1]))
        session.commit(
            sid, version=int(status[1]), written=delta.plain, created_ms=now_ms, expires_ms=expires
        )
        return SaveResult(cookie="set", value=self.ids.sign(sid), wrote=True)

    def _update(
        self, session: SessionState, sid: SessionId, delta: _Delta, now_ms: int, rid: str
    ) -> Flow[SaveResult]:
        expected = self._expected(session)
        status = yield from self._run_save(sid, "u", delta.sets, delta.dels, now_ms, rid, 0, expected)
        if status[0] != "OK":
            return self._vanished(session, status)
        if session.user_changed:
            yield from self._index(session, sid, None, session.stored.expires_ms, now_ms)  # type: ignore[union-attr]
        result = self._kept(session, sid, wrote=True)
        self.fence.saw(self.keys.data(sid), int(status[1]))
        session.commit(sid, version=int(status[1]), written=delta.plain)
        return result

    def _cycle(
        self, session: SessionState, old: SessionId, delta: _Delta, now_ms: int, rid: str
    ) -> Flow[SaveResult]:
        new = self.ids.cycle(old)
        p, old_key = self.policy, self.keys.data(old)
        changes = _delta_args(delta.sets, delta.dels)
        args = (rid, now_ms, p.idle_timeout * 1000, p.tombstone_ttl * 1000, self._expected(session), *changes)
        keys = (old_key, self.keys.data(new))
        (status,) = yield self.write(old_key, Eval(CYCLE, keys, args))
        status = _status(status)
        if status[0] != "OK":
            return self._vanished(session, status)
        yield from self._index(session, new, self.keys.public_id(old), session.stored.expires_ms, now_ms)  # type: ignore[union-attr]
        self.fence.forget(old_key)
        self.fence.saw(keys[1], int(status[1]))
        session.commit(new, version=int(status[1]), written=delta.plain)
        return self._set(new)

    def _destroy(self, session: SessionState) -> Flow[SaveResult]:
        if session.sid is None:
            return KEEP
        wrote = not session.loaded or session.stored is not None
        if wrote:
            user = session.stored.user_id if session.stored else None
            yield from self.revoke(self.keys.public_id(session.sid), user)
        session.forget()
        return SaveResult(cookie="delete", wrote=wrote)

    def _run_save(
        self,
        sid: SessionId,
        mode: str,
        sets: dict[str, bytes],
        dels: set[str] | tuple[()],
        now_ms: int,
        rid: str,
        expires: int,
        expected: str = "",
    ) -> Flow[list[str]]:
        key = self.keys.data(sid)
        args = (
            mode,
            rid,
            now_ms,
            self.policy.idle_timeout * 1000,
            expires,
            expected,
            *_delta_args(sets, dels),
        )
        (reply,) = yield self.write(key, Eval(SAVE, (key,), args))
        return _status(reply)

    def _index(
        self, session: SessionState, sid: SessionId, drop: str | None, expires: int, now_ms: int
    ) -> Flow[None]:
        stored = session.stored
        previous = stored.user_id if stored is not None else None
        if previous is not None and previous != session.user_id:
            old_index = self.keys.user_index(self.ids.hash_user(previous))
            yield self.write(old_index, Call(("ZREM", old_index, drop or self.keys.public_id(sid))))
        if session.user_id is None:
            return
        index = self.keys.user_index(self.ids.hash_user(session.user_id))
        args: tuple[str | int, ...] = (now_ms, expires, self.keys.public_id(sid), *((drop,) if drop else ()))
        yield self.write(index, Eval(INDEX_ADD, (index,), args))

    # -- pure helpers ------------------------------------------------------------------------

    def _delta(self, session: SessionState, tag: str) -> _Delta:
        """What a save writes; each changed value is turned into JSON once. Enforces ``max_size``."""
        assigned, removed = session.changes()
        for key in session.mutated_keys():
            assigned[key] = session.data[key]
        dumps, codec = self.codec.dumps, self.codec
        plain = {k: dumps(v) for k, v in assigned.items()}
        if codec.encrypts:
            sets = {_DATA + k: codec.seal(p, context=_context(tag, k)) for k, p in plain.items()}
        else:  # stored as it is: no per-field context to build
            sets = {_DATA + k: p for k, p in plain.items()}
        dels = {_DATA + k for k in removed}
        if session.user_changed and session.user_id is not None:
            sets[_USER] = self.codec.encode(session.user_id, context=_context(tag, _USER))
        elif session.user_changed and session.stored is not None and session.stored.user_id is not None:
            dels.add(_USER)
        self._check_size(session, plain, removed)
        return _Delta(sets=sets, dels=dels, plain=plain)

    def _check_size(self, session: SessionState, plain: dict[str, bytes], removed: set[str]) -> None:
        if not plain:
            return
        stored = session.stored.plain if session.stored else {}
        kept = [k for k in stored if k not in removed and k not in plain]
        total = sum(map(len, kept)) + sum(len(stored[k]) for k in kept)
        total += sum(map(len, plain)) + sum(map(len, plain.values()))
        if total > self.policy.max_size:
            raise SessionTooLarge(f"session is {total} bytes, more than max_size={self.policy.max_size}")

    def _decode_or_none(self, sid: SessionId, reply: Reply, now_ms: int) -> StoredSession | None:
        """The stored session, or ``None`` (a fresh session) when someone else wrote or damaged it."""
        try:
            meta, values = _split(reply)
            return None if _TOMBSTONE in meta else self._decode(sid, meta, values, now_ms)
        except UndecodableSession as exc:
            log.error("hasession: session %r in Redis is damaged (%s); a fresh session replaces it", sid, exc)
            return None

    def _decode(
        self, sid: SessionId, meta: dict[bytes, bytes], values: dict[str, bytes], now_ms: int
    ) -> StoredSession:
        if _NOT_A_HASH in meta:
            error = meta[_NOT_A_HASH].decode(errors="replace")
            raise UndecodableSession(f"the key is not a hash ({error})")
        stored = StoredSession(
            data={},
            version=_integer(meta, b"@v"),
            created_ms=_integer(meta, b"@c"),
            expires_ms=_integer(meta, b"@x"),
            touched=now_ms - _integer(meta, b"@t") >= self.policy.touch_interval * 1000,
        )
        size = sum(map(len, values)) + sum(map(len, values.values()))
        if size > self.policy.max_size:  # hasession never writes that much: every save would fail
            raise UndecodableSession(f"{size} bytes of values, more than max_size={self.policy.max_size}")
        if not self._decode_all(stored, values):
            for key, raw in values.items():
                self._decode_value(sid, stored, key, raw)
        if _USER_FIELD in meta:
            stored.user_id = self._user_of(sid, meta[_USER_FIELD])
        return stored

    def _user_of(self, sid: SessionId, raw: bytes) -> str | None:
        try:
            user_id = self.codec.decode(raw, context=_context(sid.tag, _USER))
        except SessionDataError as exc:
            log.error("hasession: dropped the undecodable user id of session %r: %s", sid, exc)
            return None
        if not isinstance(user_id, str):
            log.error("hasession: dropped a user id of type %s in session %r", type(user_id).__name__, sid)
            return None
        return user_id

    def _decode_all(self, stored: StoredSession, values: dict[str, bytes]) -> bool:
        """Fast path: plain JSON values parsed in one call as one array (one C call, not N)."""
        if self.codec.encrypts:
            return False
        try:
            decoded = orjson.loads(b"[" + b",".join(values.values()) + b"]")
        except orjson.JSONDecodeError:
            return False  # a bad value: the slow path drops it alone
        if len(decoded) != len(values):
            return False
        stored.data.update(zip(values, decoded, strict=True))
        stored.plain.update(values)
        return True

    def _decode_value(self, sid: SessionId, stored: StoredSession, key: str, raw: bytes) -> None:
        try:
            value, plain = self.codec.decode_plain(raw, context=_context(sid.tag, key))
        except SessionDataError as exc:  # drop the bad value, keep the session
            log.error("hasession: dropped undecodable value %r of session %s: %s", key, sid, exc)
            return
        stored.data[key] = value
        stored.plain[key] = plain

    def _expected(self, session: SessionState) -> str:
        if self.policy.concurrency != "cas" or session.stored is None:
            return ""
        return str(session.stored.version)

    def _vanished(self, session: SessionState, status: list[str]) -> SaveResult:
        if status[0] == "CONFLICT":
            raise ConcurrentUpdate(
                f"session {session.sid!r} changed since it was loaded (version {status[1]})"
            )
        log.info(
            "hasession: session %r was %s before this request saved; not resurrected", session.sid, status[0]
        )
        session.forget()
        return SaveResult(cookie="delete")

    def _kept(self, session: SessionState, sid: SessionId, *, wrote: bool) -> SaveResult:
        touched = session.stored is not None and session.stored.touched
        cookie: Literal["set", "keep"] = "set" if sid.resign else "keep"
        return SaveResult(cookie=cookie, value=self.ids.sign(sid), refresh=touched, wrote=wrote)

    def _set(self, sid: SessionId) -> SaveResult:
        return SaveResult(cookie="set", value=self.ids.sign(sid), wrote=True)


def _context(tag: str, key: str) -> bytes:
    return f"{tag}\0{key}".encode()


def _delta_args(sets: dict[str, bytes], dels: set[str] | tuple[()]) -> tuple[str | bytes | int, ...]:
    flat: list[str | bytes | int] = [len(sets)]
    for name, value in sets.items():
        flat += (name, value)
    flat.append(len(dels))
    flat.extend(sorted(dels))
    return tuple(flat)


def _split(reply: Reply) -> tuple[dict[bytes, bytes], dict[str, bytes]]:
    """A hash reply as its metadata fields and its values by session key.

    A reply that is not a hash of byte strings was not written by hasession; a value whose name is
    not UTF-8 was not either (it is dropped, logged)."""
    if not isinstance(reply, list) or len(reply) % 2:
        raise UndecodableSession(f"not a session hash: {type(reply).__name__}")
    if not set(map(type, reply)) <= _BYTES:
        raise UndecodableSession("not a session hash: a field that is not a string")
    meta: dict[bytes, bytes] = {}
    values: dict[bytes, bytes] = {}
    pairs = iter(reply)
    for name, raw in zip(pairs, pairs, strict=True):
        if name[:1] == _DATA_FIELD:
            values[name] = raw
        else:
            meta[name] = raw
    if not all(name.isascii() for name in meta):  # hasession's own metadata names are ASCII
        log.error("hasession: ignored a session field hasession did not write (a non-ASCII name)")
    try:
        return meta, {name[1:].decode(): raw for name, raw in values.items()}
    except UnicodeDecodeError:
        return meta, _utf8_names(values)


def _utf8_names(values: dict[bytes, bytes]) -> dict[str, bytes]:
    """The values whose names are UTF-8, by name (the others are dropped, logged)."""
    named: dict[str, bytes] = {}
    for name, raw in values.items():
        try:
            named[name[1:].decode()] = raw
        except UnicodeDecodeError:
            log.error("hasession: ignored a session field whose name is not UTF-8")
    return named


def _is_utf8(value: object) -> bool:
    if isinstance(value, bytes):
        try:
            value.decode()
        except UnicodeDecodeError:
            return False
    return True


def _integer(meta: dict[bytes, bytes], name: bytes) -> int:
    """A metadata field (``@v``, ``@c``, ``@x``, ``@t``: every save writes all four)."""
    raw = meta.get(name)
    if raw is None or not (raw.isdigit() and len(raw) < 20):
        state = "missing" if raw is None else "not an integer"
        raise UndecodableSession(f"metadata {name.decode()} is {state}")
    return int(raw)


def _status(reply: Reply) -> list[str]:
    if not isinstance(reply, list) or not reply:
        raise StoreResponseError(f"unexpected script reply {reply!r}")
    return [text(v) for v in reply]
