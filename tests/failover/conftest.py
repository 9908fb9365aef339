"""Simulated users for the fault tests: what each one saw, and what the store kept.

Each user owns a session with a counter. A step loads it, checks that the counter is the
value this user last had acknowledged, increments it and saves. So after a fault:

- ``errors``: exceptions that would have reached the web framework (an error page);
- ``lost_sessions``: a load that found no session (the user was logged out);
- ``lost_writes``: a load that found a counter below the last acknowledged one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import hasession
from hasession.testing import wait_until

SECRET = "failover-tests-secret-0123456789"


@dataclass
class User:
    store: Any
    cookie: str
    acknowledged: int = 0
    steps: int = 0
    errors: list[BaseException] = field(default_factory=list)
    lost_writes: int = 0
    lost_sessions: int = 0
    longest: float = 0.0

    def step(self) -> None:
        started = time.monotonic()
        try:
            session = self.store.load(self.cookie)
            if session.new:
                self.lost_sessions += 1
                return
            seen = session.get("count", 0)
            if seen < self.acknowledged:
                self.lost_writes += self.acknowledged - seen
            session["count"] = seen + 1
            self.store.save(session)
            self.acknowledged = seen + 1
            self.steps += 1
        except Exception as exc:  # anything that would reach the framework's error handler
            self.errors.append(exc)
        finally:
            self.longest = max(self.longest, time.monotonic() - started)


class Crowd:
    """Users stepping in threads until stopped."""

    def __init__(self, store: Any, n: int) -> None:
        self.store = store
        self.users = [User(store, self._new_cookie()) for _ in range(n)]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(u,), daemon=True) for u in self.users]

    def _new_cookie(self) -> str:
        session = self.store.open(None)
        session["count"] = 0
        return str(self.store.save(session).value)

    def _loop(self, user: User) -> None:
        while not self._stop.is_set():
            user.step()

    def __enter__(self) -> Crowd:
        for thread in self._threads:
            thread.start()
        self.progress(1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def progress(self, steps: int, timeout: float = 30.0) -> None:
        """Wait until every user has made ``steps`` more successful steps."""
        targets = [u.steps + steps for u in self.users]
        wait_until(
            lambda: all(u.steps >= t for u, t in zip(self.users, targets, strict=True)),
            timeout=timeout,
            message=f"every user to make {steps} more steps",
        )

    # -- what the users saw ----------------------------------------------------------------------

    @property
    def errors(self) -> list[BaseException]:
        return [e for u in self.users for e in u.errors]

    @property
    def lost_writes(self) -> int:
        return sum(u.lost_writes for u in self.users)

    @property
    def lost_sessions(self) -> int:
        return sum(u.lost_sessions for u in self.users)

    @property
    def longest_wait(self) -> float:
        return max(u.longest for u in self.users)

    def final_lost_writes(self) -> int:
        """After the crowd stopped: acknowledged increments missing from the store."""
        return sum(max(0, u.acknowledged - self.store.load(u.cookie).get("count", 0)) for u in self.users)

    def report(self, label: str) -> str:
        steps = sum(u.steps for u in self.users)
        return (
            f"{label}: {steps} steps, errors {len(self.errors)}, lost writes {self.lost_writes}, "
            f"lost sessions {self.lost_sessions}, longest wait {self.longest_wait:.2f}s, "
            f"stats {self.store.stats.snapshot()}"
        )


@pytest.fixture
def crowd() -> Iterator[Callable[..., Crowd]]:
    made: list[Crowd] = []

    def make(store: Any, n: int = 10) -> Crowd:
        made.append(Crowd(store, n))
        return made[-1]

    yield make
    for c in made:
        c.stop()


@pytest.fixture
def make_store() -> Iterator[Callable[..., hasession.SessionStore]]:
    stores: list[hasession.SessionStore] = []

    def make(url: str, **options: Any) -> hasession.SessionStore:
        options.setdefault("secret_keys", SECRET)
        stores.append(hasession.SessionStore.from_url(url, **options))
        return stores[-1]

    yield make
    for store in stores:
        store.close()
