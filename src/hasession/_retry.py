"""Retry and backoff as pure values; only the drivers sleep."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ._config import RetryPolicy
from ._exceptions import Attempt, StoreError, StoreUnavailable

__all__ = ["Backoff", "RetryState"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: ``rand * min(cap, base * 2**failures)``."""

    base: float
    cap: float

    def compute(self, failures: int, rand: float) -> float:
        return rand * min(self.cap, self.base * 2.0 ** min(failures, 30))


@dataclass(frozen=True, slots=True)
class RetryState:
    """The failed tries of one operation and its deadline (monotonic seconds)."""

    policy: RetryPolicy
    deadline: float
    attempts: tuple[Attempt, ...] = ()

    @classmethod
    def start(cls, policy: RetryPolicy, now: float, budget: float | None = None) -> RetryState:
        return cls(policy, now + (policy.hold_budget if budget is None else budget))

    def increment(self, error: StoreError, address: str, now: float, rand: float) -> tuple[RetryState, float]:
        """Record a failure; return the new state and the delay before the next try.

        Raises :class:`StoreUnavailable` (chained to ``error``) when ``error`` cannot be retried
        or the deadline leaves no time for another try.
        """
        state = replace(self, attempts=(*self.attempts, Attempt(error, address, now)))
        if not isinstance(error, StoreUnavailable):
            raise error
        delay = Backoff(self.policy.backoff_base, self.policy.backoff_cap).compute(len(self.attempts), rand)
        if now + delay >= self.deadline:
            raise state.exhausted(error)
        return state, delay

    def exhausted(self, last: StoreError) -> StoreUnavailable:
        """The error raised when the hold budget is spent."""
        err = StoreUnavailable(
            f"session store unavailable after {len(self.attempts)} attempts: {last}",
            attempts=self.attempts,
            retry_after=self.policy.retry_after,
        )
        err.__cause__ = last
        return err

    def remaining(self, now: float) -> float:
        return max(0.0, self.deadline - now)
