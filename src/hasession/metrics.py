"""Prometheus metrics for session stores (``pip install hasession[metrics]``).

::

    from hasession.metrics import register
    register(store)              # on prometheus_client's default registry

Every field of :class:`hasession.Stats` becomes a ``hasession_*`` metric (a counter; a gauge for
``max_hold_seconds``), labelled with the store's name, read at scrape time (no work on the request
path).

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any

from ._store import Stats, StoreBase

__all__ = ["StoreCollector", "register"]

#: The help text of each :class:`~hasession.Stats` field (a test checks that none is missing).
_HELP = {
    "operations": "Store operations run",
    "round_trips": "Round trips to Redis (one per batch of pipelined commands, retries included)",
    "replica_loads": "Loads answered by a replica while no master was known",
    "redirects": "Cluster MOVED and ASK redirections followed",
    "held": "Operations held (retried or waiting) through a failover",
    "retries": "Failed tries that were retried",
    "failovers": "Master changes seen by the store",
    "wait_shortfalls": "WAIT replies short of the durability requirement",
    "unavailable": "Operations that failed with StoreUnavailable (503s)",
    "shed": "Operations refused because too many were held",
    "data_resets": "Times Redis was found empty after holding data",
    "stale_loads": "Loads that read an older session version than acknowledged, read again",
    "lost_versions": "Loads whose master still served an older version: acknowledged writes lost",
    "hold_seconds": "Seconds spent holding operations",
    "max_hold_seconds": "Longest hold so far",
}
#: Fields that are a level, not a running total.
_GAUGES = frozenset({"max_hold_seconds"})


class StoreCollector:
    """A ``prometheus_client`` collector that reads one store's :class:`~hasession.Stats`."""

    def __init__(self, store: StoreBase, *, name: str = "default") -> None:
        self._store = store
        self._name = name

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = self._store.stats.snapshot()
        for field in fields(Stats):
            kind = GaugeMetricFamily if field.name in _GAUGES else CounterMetricFamily
            family = kind(f"hasession_{field.name}", _HELP.get(field.name, field.name), labels=["store"])
            family.add_metric([self._name], stats[field.name])
            yield family


def register(store: StoreBase, *, name: str = "default", registry: Any = None) -> StoreCollector:
    """Expose ``store``'s counters on ``registry`` (default: prometheus_client's global one)."""
    from prometheus_client import REGISTRY

    collector = StoreCollector(store, name=name)
    (registry or REGISTRY).register(collector)
    return collector
