"""Every exception and warning hasession raises.

The tree::

    * SessionError
      x ConfigurationError(SessionError, ValueError)
      x SessionNotLoaded          an async adapter's session was used before ``await ... load``
      x SessionDataError          (.payload, .original_error)
        + TamperedSession         a cookie or stored value failed its signature / tag
        + UndecodableSession      stored bytes are not valid session data
        + SessionTooLarge         the encoded session exceeds ``max_size``
        + UnsafeSessionFormat     another library's session needs pickle to read: refused
      x StoreError
        + StoreMisconfigured(StoreError, ConfigurationError)  (.cause) Redis refused our TLS
                                  certificate check, password, ACL or master name: never held
        + StoreUnavailable        (.attempts, .retry_after) nothing more to try within the hold budget
          - MasterNotFound        no Sentinel knows a master, or none answered
          - FailoverInProgress    READONLY / LOADING / MASTERDOWN / NOREPLICAS / BUSY / TRYAGAIN /
                                  CLUSTERDOWN / a failover announced by Sentinel; never applied
          - StoreConnectionError  refused / reset connection
          - StoreTimeout          no reply in time, or UNBLOCKED: the outcome of a write is unknown
          - StoreProtocolError    a reply that does not answer the command sent: outcome unknown
          - NotReplicated         ``WAIT`` came back short in ``replicated`` durability
        + ConcurrentUpdate        compare-and-set mode: another save landed since the load
        + StoreResponseError      Redis answered with an error nobody can retry (a bug or misconfig)
    * HASessionWarning(Warning)
      x InsecureCookieWarning

The attempt-level subclasses of :class:`StoreUnavailable` are what one try against Redis can
fail with; the drivers retry them, and when the hold budget is spent they raise a plain
:class:`StoreUnavailable` whose ``attempts`` lists every try. Framework adapters answer it with
``503`` and ``Retry-After``. Adapters never see a redis-py exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Attempt",
    "ConcurrentUpdate",
    "ConfigurationError",
    "FailoverInProgress",
    "HASessionWarning",
    "InsecureCookieWarning",
    "MasterNotFound",
    "NotReplicated",
    "SessionDataError",
    "SessionError",
    "SessionNotLoaded",
    "SessionTooLarge",
    "StoreConnectionError",
    "StoreError",
    "StoreMisconfigured",
    "StoreProtocolError",
    "StoreResponseError",
    "StoreTimeout",
    "StoreUnavailable",
    "TamperedSession",
    "UndecodableSession",
    "UnsafeSessionFormat",
]


class SessionError(Exception):
    """Base class of every hasession error."""


class ConfigurationError(SessionError, ValueError):
    """A configuration value or URL is invalid, or Redis refused the configuration.

    Invalid values and URLs are raised at start-up. Settings that only Redis can judge (a
    certificate, a password, an ACL, a master name) fail the first operation that meets them,
    as :class:`StoreMisconfigured`.
    """


class SessionNotLoaded(SessionError):
    """An unloaded session was read. Async code must ``await`` its loading first."""


class SessionDataError(SessionError):
    """Session data could not be read or written as such."""

    def __init__(
        self, message: str, *, payload: bytes | None = None, original_error: BaseException | None = None
    ):
        super().__init__(message)
        #: The offending bytes, when known (never logged by hasession).
        self.payload = payload
        #: The underlying exception, when there is one.
        self.original_error = original_error


class UnsafeSessionFormat(SessionDataError):
    """Another library's stored session is a pickle (or needs one to read), so
    :mod:`hasession.migrate` refuses it: unpickling data from Redis runs whatever code it holds.

    .. versionadded:: 0.1
    """


class TamperedSession(SessionDataError):
    """A signature or authentication tag did not verify."""


class UndecodableSession(SessionDataError):
    """Stored bytes are not valid session data (corrupt, or written by something else)."""


class SessionTooLarge(SessionDataError):
    """The encoded session is larger than the configured ``max_size``."""


class StoreError(SessionError):
    """The session store failed."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One failed try of a store operation: what failed, where, and when (monotonic seconds)."""

    error: StoreError
    address: str
    at: float


class StoreUnavailable(StoreError):
    """The store could not serve the operation within its hold budget.

    Framework adapters answer it with ``503 Service Unavailable`` and ``Retry-After``.
    """

    def __init__(self, message: str, *, attempts: tuple[Attempt, ...] = (), retry_after: int = 5) -> None:
        super().__init__(message)
        #: Every failed try, oldest first.
        self.attempts = attempts
        #: Seconds to suggest in ``Retry-After``.
        self.retry_after = retry_after

    #: Whether the failed command is known not to have been applied (safe to retry anything).
    not_applied: bool = False


class MasterNotFound(StoreUnavailable):
    """No Sentinel answered, or none knows a master for the name."""

    not_applied = True


class FailoverInProgress(StoreUnavailable):
    """Redis refused the command because of a failover (READONLY, LOADING, ...). Not applied."""

    not_applied = True


class StoreConnectionError(StoreUnavailable):
    """The connection was refused or lost."""


class StoreTimeout(StoreUnavailable):
    """No reply in time, or a ``WAIT`` cut short (``UNBLOCKED``: the master was demoted while it
    waited): a write may or may not have been applied."""


class StoreProtocolError(StoreUnavailable):
    """A reply that does not answer the command sent (a connection that lost track of its replies).

    The connection is closed and the operation retried: its outcome is unknown.
    """


class NotReplicated(StoreUnavailable):
    """``WAIT`` confirmed fewer replicas than ``replicated`` durability requires."""


class ConcurrentUpdate(StoreError):
    """Compare-and-set mode: another request saved this session since it was loaded."""


MisconfigurationCause = Literal["tls", "auth", "acl", "master_name"]


class StoreMisconfigured(StoreError, ConfigurationError):
    """Redis or Sentinel refused hasession's configuration: no retry can help, so none is made.

    ``cause`` says which setting to fix:

    - ``"tls"``: the server certificate did not verify (unknown CA, hostname mismatch, expired),
      the server refused our client certificate, or TLS met a plain-text port;
    - ``"auth"``: wrong or missing username/password (``WRONGPASS``, ``NOAUTH``);
    - ``"acl"``: the user may not run a command or touch a key (``NOPERM``);
    - ``"master_name"``: every Sentinel that answered says it monitors no master by that name.

    A failover never produces these, so they are raised at once instead of being held for the
    hold budget. Framework adapters answer them like any store error (``503``), and log them.
    """

    def __init__(self, message: str, *, cause: MisconfigurationCause) -> None:
        super().__init__(message)
        #: Which setting Redis refused.
        self.cause: MisconfigurationCause = cause


class StoreResponseError(StoreError):
    """Redis answered with an error that no retry can fix."""


class HASessionWarning(Warning):
    """Base class of hasession's warnings."""


class InsecureCookieWarning(HASessionWarning):
    """The cookie options are unsafe outside local development (e.g. ``secure=False``)."""
