"""The session object handed to request handlers, and the state the store keeps beside it.

:class:`Session` is a ``MutableMapping`` of JSON values over a private dict. Every way to change
it (``[k] = v``, ``del``, ``update``, ``|=``, ``pop``, ``popitem``, ``setdefault``, ``clear``)
goes through methods that record the change, and values mutated in place are noticed by
comparing their JSON with what was loaded. ``new``, ``modified`` and ``accessed`` follow Django
and Flask.

What the store needs to load and save a session (its id, what was loaded, what changed) is a
:class:`SessionState`, reached with :func:`state_of`; the flows (``_flows.py``) work on it, never
on the mapping. A session does no I/O itself: a sync store gives it a loader it calls on first
access; an async store's session must be loaded (``await store.load_into(session)``) before use.
"""

from __future__ import annotations

from collections.abc import (
    Callable,
    ItemsView,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    ValuesView,
)
from dataclasses import dataclass, field
from typing import Any

import orjson

from ._exceptions import SessionNotLoaded
from ._ids import SessionId

__all__ = ["Session", "SessionState", "StoredSession", "state_of"]

#: Value types that cannot change in place (exact types: a subclass may be mutable); a key
#: holding one is changed only by an assignment, which is recorded, so its JSON is not compared.
_IMMUTABLE = frozenset({str, int, float, bool, type(None)})
_NOT_LOADED = "this session is not loaded yet: `await` the adapter's session_from(request) first"


@dataclass(slots=True, kw_only=True)
class StoredSession:
    """What a load found in Redis, decoded."""

    data: dict[str, Any]
    #: The stored JSON bytes of each value, to notice in-place mutation of loaded values.
    plain: dict[str, bytes] = field(default_factory=dict)
    version: int = 0
    created_ms: int = 0
    expires_ms: int = 0
    user_id: str | None = None
    #: Whether the load refreshed the sliding TTL (a cookie with Max-Age is then re-sent).
    touched: bool = False
    #: Read from a replica while no master was known (see ``StoreConfig.degraded_reads``).
    degraded: bool = False


class SessionState:
    """The store side of one session: its id, what was loaded, and what the request changed.

    ``data`` is the session's own dict (the same object): the state reads it to compute what a
    save writes, and updates it when a load fills it or a destroy forgets it.
    """

    __slots__ = (
        "accessed",
        "assigned",
        "cycle_requested",
        "data",
        "destroyed",
        "loaded",
        "loader",
        "removed",
        "sid",
        "stored",
        "user_changed",
        "user_id",
    )

    def __init__(
        self, sid: SessionId | None, data: dict[str, Any], loader: Callable[[Session], None] | None
    ) -> None:
        #: The verified id the session was opened with (``None``: no valid cookie).
        self.sid = sid
        self.data = data
        self.loader = loader
        #: What the load found (``None``: nothing, the session is new).
        self.stored: StoredSession | None = None
        #: Whether the stored data has been read (or there was nothing to read).
        self.loaded = sid is None
        #: Keys assigned, and keys deleted, since the load or the last save.
        self.assigned: set[str] = set()
        self.removed: set[str] = set()
        self.user_id: str | None = None
        self.user_changed = False
        #: Whether the request read or wrote the session.
        self.accessed = False
        #: Rotate the id at save time (log-in, privilege change).
        self.cycle_requested = False
        #: Delete the session and its cookie at save time.
        self.destroyed = False

    @property
    def modified(self) -> bool:
        """Whether a save has something to write (values mutated in place included)."""
        if self.assigned or self.removed or self.user_changed or self.cycle_requested or self.destroyed:
            return True
        return bool(self.mutated_keys())

    def read_keys(self) -> set[str]:
        """Loaded keys the request may have mutated in place (checked against ``stored.plain``)."""
        return {k for k in self.data if k not in self.assigned} if self.accessed else set()

    def mutated_keys(self) -> set[str]:
        """Loaded keys whose value was changed in place (their JSON differs from what was loaded)."""
        if not self.accessed or self.stored is None:
            return set()
        plain, assigned, dumps = self.stored.plain, self.assigned, orjson.dumps
        return {
            k
            for k, v in self.data.items()
            if type(v) not in _IMMUTABLE and k not in assigned and k in plain and dumps(v) != plain[k]
        }

    def changes(self) -> tuple[dict[str, Any], set[str]]:
        """``(values to write, keys to delete)`` since the load; values mutated in place are not
        included (see :meth:`mutated_keys`)."""
        stored = self.stored.plain if self.stored is not None else {}
        data = self.data
        written = {k: data[k] for k in self.assigned if k in data}
        return written, {k for k in self.removed if k in stored}

    # -- called by stores and flows ---------------------------------------------------------

    def fill(self, stored: StoredSession | None) -> None:
        """Install what the store found (``None``: nothing, the session is new)."""
        self.stored, self.loaded = stored, True
        if stored is not None:
            self.data.update(stored.data)
            self.user_id = stored.user_id

    def hide(self, key: str) -> None:
        """Drop a loaded ``key`` from view without recording a delete: it stays stored."""
        self.data.pop(key, None)
        if self.stored is not None:
            self.stored.data.pop(key, None)

    def commit(
        self,
        sid: SessionId,
        *,
        version: int,
        written: dict[str, bytes],
        created_ms: int = 0,
        expires_ms: int = 0,
    ) -> None:
        """Make what was just saved the new baseline, so saving again writes only newer changes.

        ``written`` is the JSON of each value the save wrote.
        """
        old, data = self.stored, self.data
        plain = {k: v for k, v in (old.plain if old else {}).items() if k in data}
        plain.update(written)
        self.stored = StoredSession(
            data=dict(data),
            plain=plain,
            version=version,
            created_ms=created_ms or (old.created_ms if old else 0),
            expires_ms=expires_ms or (old.expires_ms if old else 0),
            user_id=self.user_id,
        )
        self.sid = sid
        self.assigned.clear()
        self.removed.clear()
        self.user_changed = self.cycle_requested = False

    def forget(self) -> None:
        """The stored session is gone (destroyed here or elsewhere): become a new, empty session."""
        self.data.clear()
        self.sid = self.stored = None
        self.assigned.clear()
        self.removed.clear()
        self.user_id, self.user_changed = None, False
        self.cycle_requested = self.destroyed = False


def state_of(session: Session) -> SessionState:
    """The store-side state of ``session`` (for stores, flows and adapters only)."""
    return session._state


class Session(MutableMapping[str, Any]):
    """A web session: a mapping of JSON values with change tracking.

    Assign to keys to change them, or use any ``dict`` method (``update``, ``|=``, ``pop``,
    ``setdefault``, ...): every one is recorded. Values mutated in place
    (``session["cart"].append(x)``) are noticed too, by comparing their JSON with what was loaded.
    ``copy()`` and ``session | other`` give plain dicts.

    .. versionadded:: 0.1
    """

    __slots__ = ("_data", "_state")

    def __init__(
        self, sid: SessionId | None = None, *, loader: Callable[[Session], None] | None = None
    ) -> None:
        self._data: dict[str, Any] = {}
        self._state = SessionState(sid, self._data, loader)

    # -- identity and lifecycle -------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The id carried by the cookie, or ``None`` for a session not yet stored."""
        sid = self._state.sid
        return sid.value if sid is not None and not self.new else None

    @property
    def new(self) -> bool:
        """True until the session exists in the store."""
        if not self._state.loaded:
            self._load()
        return self._state.stored is None

    @property
    def degraded(self) -> bool:
        """Whether the data came from a replica during a failover (it may be slightly stale)."""
        stored = self._state.stored
        return stored is not None and stored.degraded

    @property
    def loaded(self) -> bool:
        """Whether the stored data has been read (or there was nothing to read)."""
        return self._state.loaded

    @property
    def accessed(self) -> bool:
        """Whether the request read or wrote the session (the response then varies on ``Cookie``)."""
        return self._state.accessed

    @accessed.setter
    def accessed(self, value: bool) -> None:  # Flask sets it when ``flask.session`` is used
        self._state.accessed = value

    @property
    def modified(self) -> bool:
        """Whether a save has something to write (values mutated in place included)."""
        return self._state.modified

    @property
    def user_id(self) -> str | None:
        """The user this session belongs to; setting it adds the session to that user's index."""
        if not self._state.loaded:
            self._load()
        return self._state.user_id

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        state = self._state
        if not state.loaded:
            self._load()
        if value != state.user_id:
            state.user_id, state.user_changed = value, True

    def cycle_id(self) -> None:
        """Give the session a new id at save time, keeping its data (defence against fixation)."""
        if not self._state.loaded:
            self._load()
        self._state.cycle_requested = True

    def destroy(self) -> None:
        """Delete the session at save time; requests already in flight cannot bring it back."""
        if not self._state.loaded:
            self._load()
        self._data.clear()
        self._state.destroyed = True

    def _load(self) -> None:
        loader = self._state.loader
        if loader is None:
            raise SessionNotLoaded(_NOT_LOADED)
        loader(self)

    def _use(self) -> dict[str, Any]:
        """The data, loaded, with the session marked accessed (every mapping method starts here)."""
        state = self._state
        if not state.loaded:
            self._load()
        state.accessed = True
        return self._data

    # -- reading ----------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self._use()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._use().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._use()

    def __iter__(self) -> Iterator[str]:
        return iter(self._use())

    def __len__(self) -> int:
        return len(self._use())

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._use())

    def keys(self) -> KeysView[str]:
        return self._use().keys()

    def values(self) -> ValuesView[Any]:
        return self._use().values()

    def items(self) -> ItemsView[str, Any]:
        return self._use().items()

    def copy(self) -> dict[str, Any]:
        """A plain ``dict`` with the data, detached from change tracking."""
        return dict(self._use())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Session):
            return self._use() == other._use()
        if isinstance(other, Mapping):
            return self._use() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = dict(other)
        merged.update(self._use())
        return merged

    def __repr__(self) -> str:
        state = self._state
        if not state.loaded:
            return "<Session unloaded>"
        return f"<Session {len(self._data)} keys{' new' if state.stored is None else ''}>"

    # -- writing: every change is recorded --------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        data = self._use()
        if type(key) is not str:
            _check_key(key)
        data[key] = value
        self._state.assigned.add(key)
        self._state.removed.discard(key)

    def __delitem__(self, key: str) -> None:
        del self._use()[key]
        self._state.assigned.discard(key)
        self._state.removed.add(key)

    def pop(self, key: str, *default: Any) -> Any:
        data = self._use()
        if key in data:
            value = data.pop(key)
            self._state.assigned.discard(key)
            self._state.removed.add(key)
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last inserted ``(key, value)``, as ``dict.popitem`` does."""
        data = self._use()
        if not data:
            raise KeyError("popitem(): session is empty")
        key, value = data.popitem()
        self._state.assigned.discard(key)
        self._state.removed.add(key)
        return key, value

    def setdefault(self, key: str, default: Any = None) -> Any:
        data = self._use()
        if key in data:
            return data[key]
        self[key] = default
        return default

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Set several keys at once; nothing is set if one of the keys is not a ``str``."""
        data = self._use()
        values = dict(other, **kwargs)
        for key in values:
            if type(key) is not str:
                _check_key(key)
        data.update(values)
        self._state.assigned.update(values)
        self._state.removed.difference_update(values)

    # ``session | other`` is a plain dict (like ``copy()``), ``session |= other`` updates the session.
    def __ior__(self, other: Any) -> Session:  # type: ignore[misc]
        self.update(other)
        return self

    def clear(self) -> None:
        data = self._use()
        self._state.removed.update(data)
        self._state.assigned.clear()
        data.clear()


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"session keys must be str, not {type(key).__name__}")
