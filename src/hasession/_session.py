"""The session object handed to request handlers.

It is a ``MutableMapping`` of JSON values that tracks what a request did, so the store can
write only the difference: ``new``, ``modified`` and ``accessed`` follow Django and Flask.
It does no I/O itself: a sync store gives it a loader it calls on first access; an async
store's session must be loaded (``await store.load_into(session)``) before use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from ._exceptions import SessionNotLoaded
from ._ids import SessionId

__all__ = ["Session", "StoredSession"]


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


class Session(dict[str, Any]):
    """A web session: a mapping of JSON values with change tracking.

    Assign to keys to change them. Values mutated in place (``session["cart"].append(x)``) are
    noticed too, by comparing their JSON with what was loaded.

    .. versionadded:: 0.1
    """

    def __init__(
        self, sid: SessionId | None = None, *, loader: Callable[[Session], None] | None = None
    ) -> None:
        super().__init__()
        self._sid = sid
        self._loader = loader
        self._stored: StoredSession | None = None
        self._loaded = sid is None
        self._removed: set[str] = set()
        self._assigned: set[str] = set()
        self._user_id: str | None = None
        self._user_changed = False
        #: Whether the request read the session.
        self.accessed = False
        #: Set by :meth:`cycle_id`: rotate the id at save time (log-in, privilege change).
        self.cycle_requested = False
        #: Set by :meth:`destroy`: delete the session and its cookie at save time.
        self.destroyed = False

    # -- identity and lifecycle -------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The id carried by the cookie, or ``None`` for a session not yet stored."""
        return self._sid.value if self._sid is not None and not self.new else None

    @property
    def sid(self) -> SessionId | None:
        """The verified id this session was opened with (internal use by stores)."""
        return self._sid

    @property
    def new(self) -> bool:
        """True until the session exists in the store."""
        self._ensure_loaded()
        return self._stored is None

    @property
    def degraded(self) -> bool:
        """Whether the data came from a replica during a failover (it may be slightly stale)."""
        return self._stored is not None and self._stored.degraded

    @property
    def loaded(self) -> bool:
        """Whether the stored data has been read (or there was nothing to read)."""
        return self._loaded

    @property
    def stored(self) -> StoredSession | None:
        """What the load found (internal use by stores)."""
        return self._stored

    @property
    def modified(self) -> bool:
        """Whether a save has something to write (values mutated in place included)."""
        flagged = (
            self._assigned or self._removed or self._user_changed or self.cycle_requested or self.destroyed
        )
        return bool(flagged) or bool(self.mutated_keys())

    def mutated_keys(self) -> set[str]:
        """Loaded keys whose value was changed in place (their JSON differs from what was loaded)."""
        plain = self._stored.plain if self._stored is not None else {}
        return {
            k for k in self.read_keys() if k in plain and orjson.dumps(dict.__getitem__(self, k)) != plain[k]
        }

    @property
    def user_id(self) -> str | None:
        """The user this session belongs to; setting it adds the session to that user's index."""
        self._ensure_loaded()
        return self._user_id

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self._ensure_loaded()
        if value != self._user_id:
            self._user_id, self._user_changed = value, True

    @property
    def user_changed(self) -> bool:
        return self._user_changed

    def cycle_id(self) -> None:
        """Give the session a new id at save time, keeping its data (defence against fixation)."""
        self._ensure_loaded()
        self.cycle_requested = True

    def destroy(self) -> None:
        """Delete the session at save time; requests already in flight cannot bring it back."""
        self._ensure_loaded()
        super().clear()
        self.destroyed = True

    def changes(self) -> tuple[dict[str, Any], set[str]]:
        """``(values to write, keys to delete)`` since the load."""
        stored = self._stored.plain if self._stored else {}
        written = {
            k: super(Session, self).__getitem__(k) for k in self._assigned if dict.__contains__(self, k)
        }
        return written, {k for k in self._removed if k in stored}

    def read_keys(self) -> set[str]:
        """Loaded keys the request may have mutated in place (checked against ``stored.plain``)."""
        return {k for k in dict.keys(self) if k not in self._assigned} if self.accessed else set()

    # -- loading (called by stores) ---------------------------------------------------------

    def fill(self, stored: StoredSession | None) -> None:
        """Install what the store found (``None``: nothing, the session is new)."""
        self._stored, self._loaded = stored, True
        if stored is not None:
            dict.update(self, stored.data)
            self._user_id = stored.user_id

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
        old = self._stored
        plain = {k: v for k, v in (old.plain if old else {}).items() if dict.__contains__(self, k)}
        plain.update(written)
        self._stored = StoredSession(
            data=dict(dict.items(self)),
            plain=plain,
            version=version,
            created_ms=created_ms or (old.created_ms if old else 0),
            expires_ms=expires_ms or (old.expires_ms if old else 0),
            user_id=self._user_id,
        )
        self._sid = sid
        self._assigned.clear()
        self._removed.clear()
        self._user_changed = self.cycle_requested = False

    def forget(self) -> None:
        """The stored session is gone (destroyed here or elsewhere): become a new, empty session."""
        dict.clear(self)
        self._sid = self._stored = None
        self._assigned.clear()
        self._removed.clear()
        self._user_id, self._user_changed = None, False
        self.cycle_requested = self.destroyed = False

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        if self._loader is None:
            raise SessionNotLoaded(
                "this session is not loaded yet: `await` the adapter's session_from(request) first"
            )
        self._loader(self)

    # -- MutableMapping ---------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self._ensure_loaded()
        self.accessed = True
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._ensure_loaded()
        self.accessed = True
        self._check_key(key)
        super().__setitem__(key, value)
        self._assigned.add(key)
        self._removed.discard(key)

    def __delitem__(self, key: str) -> None:
        self._ensure_loaded()
        self.accessed = True
        super().__delitem__(key)
        self._assigned.discard(key)
        self._removed.add(key)

    def __iter__(self) -> Iterator[str]:
        self._ensure_loaded()
        self.accessed = True
        return super().__iter__()

    def __len__(self) -> int:
        self._ensure_loaded()
        self.accessed = True
        return super().__len__()

    def __contains__(self, key: object) -> bool:
        self._ensure_loaded()
        self.accessed = True
        return super().__contains__(key)

    def __repr__(self) -> str:
        state = "unloaded" if not self._loaded else f"{len(dict.keys(self))} keys"
        return f"<Session {state}{' new' if self._loaded and self._stored is None else ''}>"

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401 - dict.get would skip loading

    def keys(self) -> Any:
        self._ensure_loaded()
        self.accessed = True
        return super().keys()

    def values(self) -> Any:
        self._ensure_loaded()
        self.accessed = True
        return super().values()

    def items(self) -> Any:
        self._ensure_loaded()
        self.accessed = True
        return super().items()

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        for key in list(self.keys()):
            del self[key]

    def popitem(self) -> tuple[str, Any]:
        try:
            key = next(iter(self))
        except StopIteration:
            raise KeyError("popitem(): session is empty") from None
        return key, self.pop(key)

    def copy(self) -> dict[str, Any]:  # a plain dict: copies are not sessions
        self._ensure_loaded()
        return dict(super().items())

    @staticmethod
    def _check_key(key: object) -> None:
        if not isinstance(key, str):
            raise TypeError(f"session keys must be str, not {type(key).__name__}")
