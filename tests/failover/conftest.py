"""Fixtures of the fault tests: stores, and crowds of simulated users.

The users are those of the chaos campaign (:class:`hasession.testing.chaos.Crowd`): each owns a session and
runs two requests at a time, on the sync or the async store by turns; :meth:`~hasession.testing.chaos.Crowd.
assert_unharmed` judges what they saw (errors, lost sessions, lost or phantom writes) with the campaign's
checker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import hasession
from hasession.testing.chaos import Crowd

SECRET = "failover-tests-secret-0123456789"
USERS = 10


@pytest.fixture
def crowd() -> Iterator[Callable[..., Crowd]]:
    """``crowd(url, **store_options)``: :data:`USERS` users (or ``users=``) on the store at ``url``
    (``with`` starts them); ``place=`` chooses where their sessions live (see
    :class:`~hasession.testing.chaos.Crowd`)."""
    made: list[Crowd] = []

    def make(
        url: str, *, users: int = USERS, place: Callable[[int, str], bool] | None = None, **options: Any
    ) -> Crowd:
        options.setdefault("secret_keys", SECRET)
        made.append(Crowd(url, users=users, options=options, place=place))
        return made[-1]

    yield make
    for made_crowd in made:
        made_crowd.close()


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
