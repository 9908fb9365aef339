"""Redis Cluster routing: which primary owns a batch's slot. Pure.

Rules (the Redis Cluster specification; see docs/design.md, *Cluster clients*):

- The slot map comes from ``CLUSTER SLOTS`` on any reachable node (known primaries first,
  then the seeds; a node that just failed is asked last).
- ``MOVED slot addr``: patch that slot at once, and refresh the whole map before the next
  send (a MOVED usually means a failover or a resharding moved many slots).
- ``ASK slot addr``: the driver resends that one batch to ``addr`` after ``ASKING``; the map
  does not change.
- A refused / reset / timed-out connection, ``CLUSTERDOWN``, ``TRYAGAIN``, ``LOADING``: refresh
  the map before the next try; the driver's deadline-based backoff spaces the tries (redis-py
  retries in a tight loop and burns its retries in milliseconds).
"""

from __future__ import annotations

from redis.crc import key_slot

from ._commands import Batch, Call, Flow, text
from ._exceptions import MasterNotFound, StoreError, StoreMisconfigured, StoreUnavailable
from ._routing import Discover, Plan, Redirected, Router, Send
from ._topology import Address

__all__ = ["ClusterRouter", "parse_slots"]

SLOTS = 16384
SlotRanges = tuple[tuple[int, int, Address], ...]


def parse_slots(reply: object) -> SlotRanges:
    """``CLUSTER SLOTS`` as ``(first, last, primary)`` ranges."""
    ranges = []
    for entry in reply:  # type: ignore[attr-defined]
        first, last, primary = entry[0], entry[1], entry[2]
        ranges.append((int(first), int(last), Address(text(primary[0]), int(primary[1]))))
    return tuple(ranges)


def refresh(candidates: tuple[Address, ...]) -> Flow[SlotRanges | None]:
    """Ask each candidate in turn for the slot map; ``None`` when none answers.

    Raises :class:`StoreMisconfigured` when none answered and one refused our TLS, password or
    ACL: no failover explains that.
    """
    refused: StoreMisconfigured | None = None
    answered = False
    for node in candidates:
        try:
            (reply,) = yield Batch((Call(("CLUSTER", "SLOTS")),), route="", write=False, node=node)
        except StoreMisconfigured as exc:
            refused = refused or exc
            continue
        except StoreError:
            continue
        answered = True
        ranges = parse_slots(reply)
        if ranges:
            return ranges
    if refused is not None and not answered:
        raise refused
    return None


class ClusterRouter(Router):
    """Routes each batch to the primary that owns the slot of its ``route`` key."""

    def __init__(self, seeds: tuple[Address, ...]) -> None:
        self.seeds = seeds
        self._owner: list[Address | None] = [None] * SLOTS
        self._fresh = False
        self._suspect: Address | None = None
        self._generation = 0
        self._dropped: list[Address] = []

    @property
    def generation(self) -> int:
        return self._generation

    def plan(self, batch: Batch, now: float) -> Plan:
        owner = self._owner[key_slot(batch.route.encode())]
        if self._fresh and owner is not None:
            return Send(owner)
        return Discover(refresh(self._candidates()))

    def failed(self, address: Address, error: StoreError, now: float) -> None:
        if isinstance(error, Redirected):
            if not error.ask:
                self._owner[error.slot] = error.address
                self._fresh = False
            return
        if isinstance(error, StoreUnavailable):
            self._fresh, self._suspect = False, address

    def suspect(self, route: str, now: float) -> None:
        owner = self._owner[key_slot(route.encode())]
        self._fresh = False
        if owner is not None:
            self._suspect = owner
            self._dropped.append(owner)

    def discovered(self, result: object, now: float) -> None:
        if result is None:
            seeds = ", ".join(map(str, self.seeds))
            raise MasterNotFound(f"no cluster node answered CLUSTER SLOTS (seeds: {seeds})")
        before = set(self._primaries())
        for first, last, primary in result:  # type: ignore[attr-defined]
            self._owner[first : last + 1] = [primary] * (last - first + 1)
        self._fresh, self._suspect = True, None
        after = set(self._primaries())
        if after != before:
            self._generation += 1
            self._dropped.extend(before - after)

    def stale(self) -> tuple[Address, ...]:
        dropped, self._dropped = tuple(self._dropped), []
        return dropped

    def _primaries(self) -> list[Address]:
        return list(dict.fromkeys(a for a in self._owner if a is not None))

    def _candidates(self) -> tuple[Address, ...]:
        nodes = list(dict.fromkeys([*self._primaries(), *self.seeds]))
        if self._suspect is not None and self._suspect in nodes:
            nodes.remove(self._suspect)
            nodes.append(self._suspect)
        return tuple(nodes)
