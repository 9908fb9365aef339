"""Type-checked (mypy --strict), never executed: the store's keyword options."""

from __future__ import annotations

from typing_extensions import assert_type

from hasession import AsyncSessionStore, RetryPolicy, SessionPolicy, SessionStore, StoreConfig


def options(url: str) -> None:
    config = StoreConfig.from_url(url, secret_keys=["k" * 16], retry={"hold_budget": 1.0})
    assert_type(config.retry, RetryPolicy)  # a dict is accepted, a RetryPolicy is kept
    SessionStore.from_url(url, secret_keys=b"k" * 16, session=SessionPolicy(concurrency="cas"))
    AsyncSessionStore.from_url(url, secret_keys="k" * 16, id_hash_key="h" * 16, degraded_reads=2.0)

    StoreConfig.from_url(url, secret_keys="k" * 16, hold_budget=2)  # type: ignore[call-arg]
    SessionStore.from_url(url, retry=RetryPolicy())  # type: ignore[call-arg]
    SessionStore.from_url(url, secret_keys="k" * 16, sentinel_events="yes")  # type: ignore[arg-type]
