"""Prometheus metrics read a store's counters at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

import hasession
from hasession.metrics import register


def test_every_counter_is_exported_with_the_store_label() -> None:
    store = hasession.SessionStore.from_url("redis://127.0.0.1:1/0", secret_keys="m" * 32)  # never connects
    registry = CollectorRegistry()
    register(store, name="web", registry=registry)
    store.stats.retries = 7
    store.stats.failovers = 2
    store.stats.max_hold_seconds = 1.5
    text = generate_latest(registry).decode()
    assert 'hasession_retries_total{store="web"} 7.0' in text
    assert 'hasession_failovers_total{store="web"} 2.0' in text
    assert 'hasession_max_hold_seconds{store="web"} 1.5' in text
    names = ("operations", "held", "unavailable", "shed", "data_resets", "wait_shortfalls", "hold_seconds")
    for name in names:
        assert f"hasession_{name}_total" in text
