"""Prometheus metrics read a store's counters at scrape time."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

import hasession
from hasession.metrics import _GAUGES, _HELP, register


def scrape(name: str = "web") -> tuple[hasession.SessionStore, CollectorRegistry]:
    store = hasession.SessionStore.from_url("redis://127.0.0.1:1/0", secret_keys="m" * 32)  # never connects
    registry = CollectorRegistry()
    register(store, name=name, registry=registry)
    return store, registry


def test_every_stats_field_is_exported_with_the_store_label_and_its_value() -> None:
    store, registry = scrape()
    names = [f.name for f in fields(hasession.Stats)]
    for value, name in enumerate(names, start=1):
        setattr(store.stats, name, value)
    text = generate_latest(registry).decode()
    for value, name in enumerate(names, start=1):
        metric = f"hasession_{name}" if name in _GAUGES else f"hasession_{name}_total"
        assert f'{metric}{{store="web"}} {float(value)}' in text, name


def test_every_stats_field_has_its_own_help_text() -> None:
    assert set(_HELP) == {f.name for f in fields(hasession.Stats)}
    assert len(set(_HELP.values())) == len(_HELP)


def test_the_operations_page_lists_every_metric() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    missing = [f.name for f in fields(hasession.Stats) if f"`hasession_{f.name}`" not in page]
    assert missing == []
