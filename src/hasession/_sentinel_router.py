"""The router of a Sentinel topology: every batch goes to the master that Sentinel names and ``ROLE``
confirms, tracked by the state machine of :mod:`hasession._sentinel` (its docstring has the rules).
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from ._commands import Batch
from ._exceptions import FailoverInProgress, MasterNotFound, StoreError, StoreUnavailable
from ._routing import Discover, Hold, NoScript, Plan, Router, Send
from ._sentinel import (
    LEASE_POLL,
    PROBE_SECONDS,
    SWITCH_SECONDS,
    Begun,
    Discovered,
    Event,
    Found,
    Lost,
    MasterView,
    State,
    Vouch,
    discover,
    lease_until,
    transition,
)
from ._topology import Address

__all__ = ["SentinelRouter"]


class SentinelRouter(Router):
    """Routes every batch to the master that Sentinel names and ROLE confirms."""

    def __init__(self, sentinels: tuple[Address, ...], master_name: str, *, lease: bool = False) -> None:
        self.sentinels = sentinels
        self.master_name = master_name
        self.view = MasterView()
        #: Whether the master is only used under a read lease (``replicated`` durability).
        self.lease = lease
        self._vouches: dict[Address, Vouch] = {}
        self._lease_until = 0.0
        self._dropped: list[Address] = []

    @property
    def generation(self) -> int:
        return self.view.generation

    @property
    def settled(self) -> bool:
        return self.view.state is State.KNOWN

    def plan(self, batch: Batch, now: float) -> Plan:
        view = self.view
        if view.state is State.KNOWN and view.address is not None:
            if not self.leased(now):
                return Hold(LEASE_POLL)  # cut off from the Sentinels: the master may be replaced
            return Send(view.address)
        if view.state is State.SWITCHING and now - view.since < SWITCH_SECONDS and view.hint is None:
            return Hold(PROBE_SECONDS * 5)
        return Discover(discover(self.sentinels, self.master_name, view, now))

    def apply(self, event: Event, now: float) -> None:
        """Apply an event (from Sentinel pub/sub or our own observations)."""
        old = self.view
        self.view = transition(old, event, now)
        if old.address is not None and self.view.address != old.address:
            self._dropped.append(old.address)
        self._lease_until = lease_until(list(self._vouches.values()), self.view, len(self.sentinels))

    def leased(self, now: float) -> bool:
        return not self.lease or now < self._lease_until

    def vouched(self, sentinel: Address, found: Vouch | None, now: float) -> bool:
        """Record a Sentinel's view of the master; ``True`` when that renewed a lapsed lease."""
        lapsed = now >= self._lease_until
        if found is None:
            self._vouches.pop(sentinel, None)
        else:
            self._vouches[sentinel] = found
        view = self.view
        if (
            found is not None
            and found.failing
            and view.state is State.KNOWN
            and found.address == view.address
        ):
            # a quorum judged our master down, or a Sentinel is failing it over (events we missed):
            # the others may vouch for it again once it answers, but its replacement goes on
            self.apply(Begun(found.address, None), now)
            return True
        self._lease_until = lease_until(list(self._vouches.values()), self.view, len(self.sentinels))
        if now >= self._lease_until and self._vouched_elsewhere(now):
            # the Sentinels agree on another master (e.g. a failover whose leader died was undone,
            # and the candidate we moved to is about to be turned back): look again
            self.apply(Lost(self.view.address), now)  # type: ignore[arg-type]
            return True
        return lapsed and now < self._lease_until

    def _vouched_elsewhere(self, now: float) -> bool:
        view = self.view
        if view.state is not State.KNOWN:
            return False
        elsewhere = MasterView(state=State.KNOWN, address=None, epoch=-1)
        for address in {v.address for v in self._vouches.values() if v.address != view.address}:
            if (
                lease_until(
                    list(self._vouches.values()), replace(elsewhere, address=address), len(self.sentinels)
                )
                > now
            ):
                return True
        return False

    def failed(self, address: Address, error: StoreError, now: float) -> None:
        if isinstance(error, StoreUnavailable) and not _harmless(error):
            self.apply(Lost(address), now)

    def suspect(self, route: str, now: float) -> None:
        if self.view.state is State.KNOWN and self.view.address is not None:
            self.apply(Lost(self.view.address), now)

    def discovered(self, result: object, now: float) -> None:
        if result is None:
            if self.view.state is State.SWITCHING:
                raise FailoverInProgress(f"waiting for the promotion of {self.view.hint}")
            raise MasterNotFound(
                f"no Sentinel of {len(self.sentinels)} named a reachable master {self.master_name!r}"
            )
        found = cast("Discovered", result)
        address, index, epoch, reverted = found[0], found[1], found[2], len(found) > 3
        if index > 0:  # the Sentinel that answered goes first next time
            self.sentinels = (self.sentinels[index], *self.sentinels[:index], *self.sentinels[index + 1 :])
        self.apply(Found(address, epoch, reverted=reverted), now)

    def heard_epoch(self, epoch: int, now: float) -> None:
        """A Sentinel reports configuration ``epoch``: newer than our master's, so look again.

        Watchers ask on every (re)subscription: events published while they were cut off (a
        partition) are never delivered, and the master we use may be one a failover left behind.
        """
        if epoch > self.view.epoch >= 0 and self.view.address is not None:
            self.apply(Lost(self.view.address), now)

    def add_sentinels(self, peers: tuple[Address, ...]) -> None:
        """Learn Sentinels that joined since the URL was written (asked last, in the order found)."""
        self.sentinels = (*self.sentinels, *(p for p in dict.fromkeys(peers) if p not in self.sentinels))

    def stale(self) -> tuple[Address, ...]:
        dropped, self._dropped = tuple(self._dropped), []
        return dropped


def _harmless(error: StoreError) -> bool:
    """Errors that say nothing about who the master is (a busy script, an emptied script cache).

    ``NOREPLICAS`` and a short ``WAIT`` are not harmless: a master cut off from its replicas by a
    partition, or left behind by a failover it has not heard of, answers them too. Sentinel is
    asked again (the newest configuration epoch wins); a master that still is one is kept.
    """
    return isinstance(error, NoScript) or str(error).startswith("BUSY")
