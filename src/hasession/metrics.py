"""Prometheus metrics for session stores (``pip install hasession[metrics]``).

::

    from hasession.metrics import register
    register(store)              # on prometheus_client's default registry

Every counter of :class:`hasession.Stats` becomes a ``hasession_*`` metric, labelled with the
store's name, read at scrape time (no work on the request path).

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._store import StoreBase

__all__ = ["StoreCollector", "register"]

_COUNTERS = {
    "operations": "Store operations run",
    "held": "Operations held (retried or waiting) through a failover",
    "retries": "Failed tries that were retried",
    "failovers": "Master changes seen by the store",
    "wait_shortfalls": "WAIT replies short of the durability requirement",
    "unavailable": "Operations that failed with StoreUnavailable (503s)",
    "shed": "Operations refused because too many were held",
    "data_resets": "Times Redis was found empty after holding data",
    "hold_seconds": "Seconds spent holding operations",
}


class StoreCollector:
    """A ``prometheus_client`` collector that reads one store's :class:`~hasession.Stats`."""

    def __init__(self, store: StoreBase, *, name: str = "default") -> None:
        self._store = store
        self._name = name

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = self._store.stats.snapshot()
        for field, help_text in _COUNTERS.items():
            family = CounterMetricFamily(f"hasession_{field}", help_text, labels=["store"])
            family.add_metric([self._name], stats[field])
            yield family
        gauge = GaugeMetricFamily("hasession_max_hold_seconds", "Longest hold so far", labels=["store"])
        gauge.add_metric([self._name], stats["max_hold_seconds"])
        yield gauge


def register(store: StoreBase, *, name: str = "default", registry: Any = None) -> StoreCollector:
    """Expose ``store``'s counters on ``registry`` (default: prometheus_client's global one)."""
    from prometheus_client import REGISTRY

    collector = StoreCollector(store, name=name)
    (registry or REGISTRY).register(collector)
    return collector
