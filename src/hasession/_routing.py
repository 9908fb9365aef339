"""Which node a batch goes to, and what a failure says about the topology. Pure.

A router answers :meth:`Router.plan` with one of three plans:

- :class:`Send`: send the batch to this address;
- :class:`Hold`: a failover is under way; wait for news (or the deadline) and ask again;
- :class:`Discover`: run this flow (it asks Sentinels / nodes) and report what it found.

Drivers feed back what happened (:meth:`Router.failed`, :meth:`Router.discovered`) and Sentinel's
pub/sub events (:meth:`Router.on_event`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from ._commands import Batch, Flow, text
from ._exceptions import (
    FailoverInProgress,
    MisconfigurationCause,
    StoreError,
    StoreMisconfigured,
    StoreResponseError,
    StoreTimeout,
)
from ._topology import Address

__all__ = [
    "Discover",
    "Hold",
    "NoScript",
    "Plan",
    "Redirected",
    "Router",
    "Send",
    "StandaloneRouter",
    "error_from_reply",
    "role_of",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Send:
    address: Address


@dataclass(frozen=True, slots=True)
class Hold:
    """Wait until the router changes, at most ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Discover(Generic[T]):
    flow: Flow[T]


Plan = Send | Hold | Discover[object]


class Redirected(FailoverInProgress):
    """``MOVED`` / ``ASK``: the slot is served elsewhere. Never applied."""

    def __init__(self, message: str, *, slot: int, address: Address, ask: bool) -> None:
        super().__init__(message)
        self.slot, self.address, self.ask = slot, address, ask


class NoScript(FailoverInProgress):
    """``NOSCRIPT``: the script cache is empty (e.g. after a failover); resend with ``EVAL``."""


# Error replies that mean "not applied, the topology is changing": retry, maybe elsewhere.
_FAILOVER_REPLIES = ("READONLY", "LOADING", "MASTERDOWN", "NOREPLICAS", "BUSY", "TRYAGAIN", "CLUSTERDOWN")
# Error replies that mean "you are not allowed": a configuration fault, never retried.
_REFUSALS: dict[str, MisconfigurationCause] = {"NOPERM": "acl", "WRONGPASS": "auth", "NOAUTH": "auth"}
_ADVICE: dict[MisconfigurationCause, str] = {
    "acl": "grant the ACL rule in docs/security.md to hasession's user",
    "auth": "check the username and password",
}


def error_from_reply(message: str) -> StoreError:
    """Map a Redis error reply to the most specific :class:`StoreError`."""
    code = message.split(" ", 1)[0].upper()
    if code in ("MOVED", "ASK"):
        _, slot, where = message.split(" ")
        host, _, port = where.rpartition(":")
        return Redirected(
            message, slot=int(slot), address=Address(host.strip("[]"), int(port)), ask=code == "ASK"
        )
    if code == "NOSCRIPT":
        return NoScript(message)
    # A script's error keeps the code after a prefix (Redis 7: "ERR ... script: NOPERM ...").
    refused = next((c for c in _REFUSALS if c == code or f" {c} " in f" {message} "), None)
    if message.startswith("Protocol error: unauthenticated"):  # a long command before AUTH
        refused = "NOAUTH"
    if refused is not None:
        cause = _REFUSALS[refused]
        return StoreMisconfigured(f"{message}; {_ADVICE[cause]}", cause=cause)
    if code == "UNBLOCKED":  # a WAIT cut short: the master was demoted; the write's fate is unknown
        return StoreTimeout(message)
    if code in _FAILOVER_REPLIES or message.startswith("You can't write against a read only"):
        return FailoverInProgress(message)
    return StoreResponseError(message)


class Router:
    """Base router: the address of a single, fixed node."""

    #: Whether replies count only while a read lease holds (see :meth:`leased`).
    lease = False

    def leased(self, now: float) -> bool:
        """Whether a reply read at ``now`` came from the only master (always, without a lease)."""
        return True

    @property
    def generation(self) -> int:
        """Bumped whenever the master moves."""
        return 0

    @property
    def settled(self) -> bool:
        """Whether the master is known (housekeeping such as the canary waits for it)."""
        return True

    def plan(self, batch: Batch, now: float) -> Plan:
        raise NotImplementedError

    def failed(self, address: Address, error: StoreError, now: float) -> None:
        """A batch to ``address`` failed with ``error``."""

    def discovered(self, result: object, now: float) -> None:
        """A discovery flow returned ``result``."""

    def suspect(self, route: str, now: float) -> None:
        """The node that serves ``route`` answered with stale data: look for the right one again,
        and list it in :meth:`stale` (its connections are dropped)."""

    def stale(self) -> tuple[Address, ...]:
        """Addresses whose pooled connections must be dropped now (and forget them)."""
        return ()


class StandaloneRouter(Router):
    """One Redis server: always send to it."""

    def __init__(self, address: Address) -> None:
        self._send = Send(address)
        self._dropped: tuple[Address, ...] = ()

    def plan(self, batch: Batch, now: float) -> Plan:
        return self._send

    def suspect(self, route: str, now: float) -> None:
        self._dropped = (self._send.address,)  # one node: a new connection may reach another (a VIP)

    def stale(self) -> tuple[Address, ...]:
        dropped, self._dropped = self._dropped, ()
        return dropped


def role_of(reply: object) -> str:
    """The role from a ``ROLE`` reply."""
    if isinstance(reply, list) and reply:
        return text(reply[0])
    raise StoreResponseError(f"unexpected ROLE reply {reply!r}")
