"""Backoff and RetryState: pure values; the caller supplies the clock and the randomness."""

from __future__ import annotations

import dataclasses

import pytest

from hasession._config import RetryPolicy
from hasession._exceptions import (
    Attempt,
    ConcurrentUpdate,
    FailoverInProgress,
    MasterNotFound,
    NotReplicated,
    StoreConnectionError,
    StoreError,
    StoreResponseError,
    StoreTimeout,
    StoreUnavailable,
)
from hasession._retry import Backoff, RetryState

POLICY = RetryPolicy(hold_budget=10.0, backoff_base=0.01, backoff_cap=0.25, retry_after=7)
BACKOFF = Backoff(POLICY.backoff_base, POLICY.backoff_cap)
ALMOST_ONE = 1.0 - 2**-53


# -- backoff ---------------------------------------------------------------------------------


@pytest.mark.parametrize("failures", [0, 1, 2, 3, 4, 5, 6, 10, 30, 31, 64, 10_000])
@pytest.mark.parametrize("rand", [0.0, 0.25, 0.5, ALMOST_ONE])
def test_full_jitter_stays_between_zero_and_the_capped_exponential(failures: int, rand: float) -> None:
    ceiling = min(POLICY.backoff_cap, POLICY.backoff_base * 2.0 ** min(failures, 30))
    delay = BACKOFF.compute(failures, rand)
    assert 0.0 <= delay <= ceiling <= POLICY.backoff_cap
    assert delay == pytest.approx(rand * ceiling)


def test_the_ceiling_doubles_until_the_cap() -> None:
    ceilings = [BACKOFF.compute(n, ALMOST_ONE) for n in range(8)]
    assert ceilings[:5] == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.16])
    assert ceilings[5:] == pytest.approx([0.25] * 3)


def test_zero_randomness_means_no_wait() -> None:
    assert BACKOFF.compute(5, 0.0) == 0.0


def test_backoff_is_a_frozen_value() -> None:
    assert Backoff(0.01, 0.25) == BACKOFF
    assert hash(Backoff(0.01, 0.25)) == hash(BACKOFF)
    with pytest.raises(dataclasses.FrozenInstanceError):
        BACKOFF.cap = 1.0  # type: ignore[misc]


# -- retry state -----------------------------------------------------------------------------


def test_start_sets_the_deadline_from_the_budget() -> None:
    assert RetryState.start(POLICY, 100.0).deadline == 110.0
    assert RetryState.start(POLICY, 100.0, budget=2.5).deadline == 102.5
    assert RetryState.start(POLICY, 100.0, budget=0).deadline == 100.0
    assert RetryState.start(POLICY, 100.0).remaining(104.0) == 6.0
    assert RetryState.start(POLICY, 100.0).remaining(200.0) == 0.0


@pytest.mark.parametrize(
    "error",
    [
        StoreConnectionError("refused"),
        StoreTimeout("timed out"),
        FailoverInProgress("READONLY"),
        MasterNotFound("none"),
        NotReplicated("WAIT 0 of 1"),
    ],
    ids=type,
)
def test_a_retryable_failure_is_recorded_and_gives_a_delay(error: StoreUnavailable) -> None:
    state = RetryState.start(POLICY, 100.0)
    after, delay = state.increment(error, "10.0.0.1:6379", 100.5, 0.5)
    assert after.attempts == (Attempt(error, "10.0.0.1:6379", 100.5),)
    assert state.attempts == ()  # a new value; the old one is unchanged
    assert after.deadline == state.deadline
    assert 0 < delay <= 0.5 * 2 * POLICY.backoff_base


def test_attempts_accumulate_in_order() -> None:
    state = RetryState.start(POLICY, 0.0)
    errors = [StoreConnectionError(f"try {i}") for i in range(4)]
    for i, error in enumerate(errors):
        state, _ = state.increment(error, f"n{i}", float(i), 0.5)
    assert [(a.error, a.address, a.at) for a in state.attempts] == [
        (e, f"n{i}", float(i)) for i, e in enumerate(errors)
    ]


def test_the_first_delay_is_at_most_backoff_base() -> None:
    _, delay = RetryState.start(POLICY, 0.0).increment(StoreConnectionError("x"), "n", 0.0, ALMOST_ONE)
    assert delay <= POLICY.backoff_base


@pytest.mark.parametrize(
    "error", [StoreResponseError("ERR wrong"), ConcurrentUpdate("changed"), StoreError("other")], ids=type
)
def test_a_non_retryable_error_is_reraised_unchanged(error: StoreError) -> None:
    state = RetryState.start(POLICY, 0.0)
    with pytest.raises(type(error)) as info:
        state.increment(error, "n", 0.0, 0.5)
    assert info.value is error
    assert info.value.__cause__ is None


def test_running_past_the_deadline_raises_store_unavailable_with_every_attempt() -> None:
    state = RetryState.start(POLICY, 0.0, budget=1.0)
    state, _ = state.increment(StoreConnectionError("first"), "a:1", 0.2, 0.5)
    last = StoreTimeout("second")
    with pytest.raises(StoreUnavailable) as info:
        state.increment(last, "b:2", 0.99, ALMOST_ONE)  # 0.99 + ~0.04 >= 1.0
    err = info.value
    assert type(err) is StoreUnavailable  # the attempt-level subclass is in .attempts, not the type
    assert [(a.error, a.address) for a in err.attempts] == [
        (state.attempts[0].error, "a:1"),
        (last, "b:2"),
    ]
    assert err.__cause__ is last
    assert err.retry_after == 7
    assert "2 attempts" in str(err)


def test_a_zero_budget_gives_up_on_the_first_failure() -> None:
    state = RetryState.start(POLICY, 5.0, budget=0)
    error = StoreConnectionError("refused")
    with pytest.raises(StoreUnavailable) as info:
        state.increment(error, "n", 5.0, 0.0)
    assert len(info.value.attempts) == 1
    assert info.value.__cause__ is error


def test_a_simulated_outage_ends_within_the_budget() -> None:
    """Drive the state like a driver would, with a fake clock and worst-case jitter."""
    state = RetryState.start(POLICY, 0.0, budget=2.0)
    now, delays = 0.0, []

    def outage() -> None:
        nonlocal state, now
        while True:
            state, delay = state.increment(StoreConnectionError("down"), "n", now, ALMOST_ONE)
            delays.append(delay)
            now += delay

    with pytest.raises(StoreUnavailable) as info:
        outage()
    assert now < 2.0
    assert sum(delays) < 2.0
    assert len(info.value.attempts) == len(delays) + 1
    assert max(delays) <= POLICY.backoff_cap


def test_exhausted_builds_the_final_error() -> None:
    state = RetryState.start(POLICY, 0.0)
    state, _ = state.increment(StoreConnectionError("x"), "n", 0.0, 0.1)
    last = FailoverInProgress("still failing over")
    err = state.exhausted(last)
    assert (type(err), err.attempts, err.__cause__, err.retry_after) == (
        StoreUnavailable,
        state.attempts,
        last,
        7,
    )
