"""hasession: Redis-backed web sessions that keep working while Redis fails over.

``import hasession`` imports no web framework; the adapters live in ``hasession.starlette``,
``hasession.fastapi``, ``hasession.flask``, ``hasession.django`` and ``hasession.aiohttp``.
"""

from __future__ import annotations

from ._async.store import AsyncSessionStore
from ._config import CookieOptions, DurabilityPolicy, RetryPolicy, Secret, SessionPolicy
from ._cookies import delete_cookie_header, set_cookie_header
from ._exceptions import (
    Attempt,
    ConcurrentUpdate,
    ConfigurationError,
    FailoverInProgress,
    HASessionWarning,
    InsecureCookieWarning,
    MasterNotFound,
    NotReplicated,
    SessionDataError,
    SessionError,
    SessionNotLoaded,
    SessionTooLarge,
    StoreConnectionError,
    StoreError,
    StoreMisconfigured,
    StoreProtocolError,
    StoreResponseError,
    StoreTimeout,
    StoreUnavailable,
    TamperedSession,
    UndecodableSession,
    UnsafeSessionFormat,
)
from ._results import SaveResult, SessionInfo
from ._session import Session
from ._store import Stats, StoreConfig, StoreOptions
from ._switchover import SwitchoverResult
from ._sync.store import SessionStore
from ._topology import Address, Cluster, ConnectionOptions, Sentinel, Standalone, Topology
from ._url import parse_url

__version__ = "0.1.0"

__all__ = [
    "Address",
    "AsyncSessionStore",
    "Attempt",
    "Cluster",
    "ConcurrentUpdate",
    "ConfigurationError",
    "ConnectionOptions",
    "CookieOptions",
    "DurabilityPolicy",
    "FailoverInProgress",
    "HASessionWarning",
    "InsecureCookieWarning",
    "MasterNotFound",
    "NotReplicated",
    "RetryPolicy",
    "SaveResult",
    "Secret",
    "Sentinel",
    "Session",
    "SessionDataError",
    "SessionError",
    "SessionInfo",
    "SessionNotLoaded",
    "SessionPolicy",
    "SessionStore",
    "SessionTooLarge",
    "Standalone",
    "Stats",
    "StoreConfig",
    "StoreConnectionError",
    "StoreError",
    "StoreMisconfigured",
    "StoreOptions",
    "StoreProtocolError",
    "StoreResponseError",
    "StoreTimeout",
    "StoreUnavailable",
    "SwitchoverResult",
    "TamperedSession",
    "Topology",
    "UndecodableSession",
    "UnsafeSessionFormat",
    "__version__",
    "delete_cookie_header",
    "parse_url",
    "set_cookie_header",
]
