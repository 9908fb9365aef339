"""A loss-free planned master switch for Sentinel topologies: the pure parts.

``SENTINEL FAILOVER`` alone loses about a second of acknowledged writes: clients keep writing
to the old master until Sentinel demotes it (redis/redis#6062). The switchover closes that gap:

1. ``CLIENT PAUSE <ms> WRITE`` on the old master: writes (and replication pings) stop there;
2. wait until every connected replica has processed the master's whole replication stream;
3. ``SENTINEL FAILOVER``: any replica Sentinel picks now holds every acknowledged write;
4. wait until a replica says ``ROLE`` master;
5. ``REPLICAOF <new>`` on the old master, so writes that were waiting on it fail with
   ``READONLY`` (never applied, so they are retried on the new master) instead of landing
   on a node about to be wiped;
6. ``CLIENT UNPAUSE``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._commands import text
from ._exceptions import StoreResponseError
from ._topology import Address

__all__ = ["SwitchoverResult", "master_offset", "replica_offset"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchoverResult:
    """What :meth:`~hasession.SessionStore.switchover` did.

    .. versionadded:: 0.1
    """

    old: Address
    new: Address
    #: Seconds writes were paused on the old master (the write blackout).
    paused_seconds: float
    #: The old master's replication offset when it was paused; the new master had all of it.
    offset: int


def master_offset(role: object) -> tuple[int, list[Address]]:
    """From a master's ``ROLE`` reply: its offset and its replicas' addresses."""
    if not isinstance(role, list) or text(role[0]) != "master":
        raise StoreResponseError(f"not a master: {role!r}")
    replicas = [Address(text(r[0]), int(r[1])) for r in role[2]]
    return int(role[1]), replicas


def replica_offset(role: object) -> int | None:
    """From a replica's ``ROLE`` reply: the offset it processed, or ``None`` if not connected."""
    if not isinstance(role, list) or text(role[0]) != "slave" or text(role[3]) != "connected":
        return None
    return int(role[4])


def is_master(role: object) -> bool:
    return isinstance(role, list) and bool(role) and text(role[0]) == "master"
