"""Redis Cluster routing (in progress)."""

from __future__ import annotations

from ._commands import Batch
from ._exceptions import ConfigurationError
from ._routing import Plan, Router
from ._topology import Address


class ClusterRouter(Router):
    """Routes each batch to the primary that owns its slot."""

    def __init__(self, seeds: tuple[Address, ...]) -> None:
        self.seeds = seeds

    def plan(self, batch: Batch, now: float) -> Plan:
        raise ConfigurationError("Redis Cluster support is not finished yet")
