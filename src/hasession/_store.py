"""What the sync and async stores share: configuration, the flows, the router, the stats.

The drivers (``_async/store.py`` and its generated twin ``_sync/store.py``) only run flows.
"""

from __future__ import annotations

import logging
import os
import random
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

if TYPE_CHECKING:
    from typing_extensions import Required, Unpack

from ._codec import Codec
from ._config import DurabilityPolicy, RetryPolicy, Secret, SessionPolicy
from ._exceptions import ConfigurationError
from ._fence import VersionFence
from ._flows import SessionFlows
from ._ids import IdCodec
from ._keys import KeySchema
from ._options import check_option_names, option_fields
from ._routing import Router, StandaloneRouter
from ._sentinel_router import SentinelRouter
from ._session import Session, state_of
from ._topology import Address, Cluster, Sentinel, Standalone, Topology
from ._web import CallSite

__all__ = ["StoreConfig", "StoreOptions", "Stats"]

log = logging.getLogger("hasession")

CANARY_SECONDS = 5.0


Key: TypeAlias = "Secret | str | bytes"


class StoreOptions(TypedDict, total=False):
    """The keyword options of ``from_url``: the fields of :class:`StoreConfig` but ``topology``.

    A policy may be given as the policy object, a ``dict`` of its fields, or ``None`` (its
    defaults). Type checkers need these spelled out; ``tests/unit/test_options.py`` checks that
    they match the fields of :class:`StoreConfig`.

    .. versionadded:: 0.1
    """

    secret_keys: Required[Key | Sequence[Key]]
    encryption_keys: Key | Sequence[Key]
    id_hash_key: Key | None
    session: SessionPolicy | Mapping[str, Any] | None
    retry: RetryPolicy | Mapping[str, Any] | None
    durability: DurabilityPolicy | Mapping[str, Any] | None
    sentinel_events: bool
    degraded_reads: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    """Everything a session store needs. Build it with :meth:`from_url` or directly.

    .. versionadded:: 0.1
    """

    #: Where the sessions live (``from_url`` builds it from the URL).
    topology: Topology
    #: Keys that sign cookies, oldest first; the newest signs, all verify. Each is 16 bytes or
    #: longer (``secrets.token_urlsafe(32)`` makes one).
    secret_keys: tuple[Secret, ...]
    #: AES-GCM keys for encryption at rest, oldest first (empty: no encryption; the ``crypto`` extra).
    encryption_keys: tuple[Secret, ...] = ()
    #: Key of the at-rest hash of session ids; default: the oldest of ``secret_keys``. Set it
    #: before retiring the oldest signing key, or every stored session becomes unreachable.
    id_hash_key: Secret | None = None
    #: Lifetime, size and concurrency rules of sessions.
    session: SessionPolicy = field(default_factory=SessionPolicy)
    #: How long and how an operation is held and retried while the store fails over.
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: What counts as an acknowledged write.
    durability: DurabilityPolicy = field(default_factory=DurabilityPolicy)
    #: Subscribe to Sentinel's failover events, to stop writing to an old master as soon as a
    #: failover is announced (recommended).
    sentinel_events: bool = True
    #: Degraded reads (Sentinel): while no master is known, a load may be answered by a replica
    #: whose link to the master has been down at most this many seconds. ``None``: off, loads
    #: wait for the new master like writes do.
    degraded_reads: float | None = None

    def __new__(cls, *args: object, **kwargs: object) -> StoreConfig:
        # Before the generated __init__, so that a typo is a ConfigurationError naming the valid options.
        check_option_names(cls, kwargs, complete=False)
        return object.__new__(cls)  # not super(): slots=True makes a new class

    def __post_init__(self) -> None:
        # Keys may be given as str or bytes, policies as dicts of their fields: convert them once, here.
        for name, option in option_fields(type(self)).items():
            object.__setattr__(self, name, option.convert(name, getattr(self, name)))
        if any(len(k.reveal()) < 16 for k in self.secret_keys):
            raise ConfigurationError(
                "secret keys must be at least 16 bytes long; make one with secrets.token_urlsafe(32)"
            )

    @classmethod
    def from_url(cls, url: str, **options: Unpack[StoreOptions]) -> StoreConfig:
        """A config for the topology named by ``url`` (see :func:`hasession.parse_url`).

        The options are :class:`StoreConfig`'s fields (see :class:`StoreOptions`); keys may be
        given as ``str`` or ``bytes``, policies as a ``dict`` of their fields.

        :raises ConfigurationError: an invalid URL, an unknown option or an invalid value.
        """
        from ._url import parse_url

        check_option_names(cls, options)
        return cls(topology=parse_url(url), **options)  # type: ignore[arg-type]  # converted in __post_init__


@dataclass(slots=True)
class Stats:
    """Counters of one store, for dashboards and tests. Read them with :meth:`snapshot`.

    .. versionadded:: 0.1
    """

    operations: int = 0
    #: Round trips to Redis (one per batch of pipelined commands, retries included).
    round_trips: int = 0
    #: Operations that needed at least one retry or wait (held through a failover).
    held: int = 0
    #: Seconds spent holding, summed, and the longest hold.
    hold_seconds: float = 0.0
    max_hold_seconds: float = 0.0
    retries: int = 0
    #: Master changes seen (discovery found a new master).
    failovers: int = 0
    #: ``WAIT`` answers short of the durability requirement.
    wait_shortfalls: int = 0
    #: Operations that failed with ``StoreUnavailable`` (each became a 503).
    unavailable: int = 0
    #: Operations refused because too many were already held.
    shed: int = 0
    #: Times the store was found empty after it had held data (Redis restarted without persistence).
    data_resets: int = 0
    #: Loads answered by a replica while no master was known (allowed by ``StoreConfig.degraded_reads``).
    replica_loads: int = 0
    #: Cluster ``MOVED`` and ``ASK`` redirections followed.
    redirects: int = 0
    #: Loads that read a session older than this store had acknowledged (a stale node); each was
    #: read again after looking for the master anew (``hasession/_fence.py``).
    stale_loads: int = 0
    #: Of those, loads whose master still served the older version: acknowledged writes lost (a
    #: failover in ``async`` durability); taken and logged as a warning.
    lost_versions: int = 0

    def snapshot(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def degraded_reads(self) -> int:
        """Deprecated: :attr:`replica_loads` (``StoreConfig.degraded_reads`` is a number of seconds)."""
        warnings.warn("Stats.degraded_reads is now Stats.replica_loads", DeprecationWarning, stacklevel=2)
        return self.replica_loads


def make_router(config: StoreConfig) -> Router:
    """The router for a store's topology."""
    topology = config.topology
    if isinstance(topology, Standalone):
        return StandaloneRouter(topology.address or Address("unix", 0))
    if isinstance(topology, Sentinel):
        # replicated durability never reads a master that may have been replaced (a partition)
        lease = config.durability.mode == "replicated" and config.sentinel_events
        return SentinelRouter(topology.sentinels, topology.master_name, lease=lease)
    if isinstance(topology, Cluster):
        from ._cluster import ClusterRouter

        return ClusterRouter(topology.seeds)
    raise ConfigurationError(f"unknown topology {topology!r}")  # pragma: no cover


class StoreBase:
    """The part of a store that does no I/O."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.stats = Stats()
        #: The line of user code that made this store: adapters' warnings name it when they
        #: cannot name their own set-up line (Starlette builds its middleware lazily).
        self.origin = CallSite.find()
        self._ctx = SessionFlows(
            ids=IdCodec(config.secret_keys, hash_key=config.id_hash_key),
            keys=KeySchema(config.session.key_prefix),
            codec=Codec(config.encryption_keys),
            policy=config.session,
            durability=config.durability,
            degraded_reads=config.degraded_reads is not None,
            fence=VersionFence(self.stats),
        )
        self._router = make_router(config)
        #: The canary token last seen. It is checked at start, after every recovery, and every
        #: CANARY_SECONDS (a restarted server is reconnected to silently), but not on Cluster,
        #: where one key cannot watch every primary.
        self._canary: str | None = None
        self._canary_watch = not isinstance(config.topology, Cluster)
        self._canary_next = 0.0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config.topology}>"

    def public_id(self, session: Session) -> str | None:
        """An id of ``session`` that is safe to log and show (it cannot be used as a cookie)."""
        state = state_of(session)
        if state.sid is None or session.new:  # ``new`` loads a sync store's session first
            return None
        return self._ctx.public_id(state)

    def _canary_due(self) -> bool:
        return self._canary_watch and time.monotonic() >= self._canary_next and self._router.settled

    def _judge_canary(self, status: list[str]) -> None:
        self._canary_next = time.monotonic() + CANARY_SECONDS
        seen, self._canary = self._canary, status[1]
        if status[0] == "new" and seen is not None:
            self.stats.data_resets += 1
            log.error(
                "hasession: the session store lost all its data (canary missing after a recovery): "
                "was Redis restarted without persistence? Every session was lost."
            )

    @staticmethod
    def _now_ms() -> int:
        return time.time_ns() // 1_000_000

    @staticmethod
    def _request_id() -> str:
        """A fresh id for one save, which makes its retries idempotent: unique, not secret (nobody
        but the store sends one), so from a generator of our own, seeded from the OS and again in a
        forked child, rather than a system call per save. Not ``random``'s shared generator: an app
        that seeds it would make its processes draw the same ids, and a save whose id was already
        stored is taken for done."""
        return f"{_REQUEST_IDS.getrandbits(64):016x}"


_REQUEST_IDS = random.Random()  # seeded from os.urandom
if hasattr(os, "register_at_fork"):  # a forked worker must not draw its parent's ids
    os.register_at_fork(after_in_child=_REQUEST_IDS.seed)
