"""Type-checked (mypy --strict), never executed: the Django adapter's public types.

Django itself ships no type hints, so requests and responses are ``Any`` here; what is checked is
hasession's side of the API.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from hasession import AsyncSessionStore, Session, SessionStore, StoreConfig, StoreError
from hasession.django import (
    SessionMiddleware,
    asession_from,
    get_async_store,
    get_store,
    session_from,
    store_config,
)
from hasession.django import SessionStore as DjangoSessionStore


def view(request: Any) -> int:
    session = session_from(request)
    assert_type(session, Session)
    assert_type(get_store(), SessionStore)
    assert_type(store_config(), StoreConfig)
    revoked = get_store().revoke_user("alice", keep=session)
    assert_type(revoked, int)
    get_store().revoke_user(42)  # type: ignore[arg-type]
    return revoked


async def async_view(request: Any) -> str | None:
    session = await asession_from(request)
    assert_type(session, Session)
    assert_type(get_async_store(), AsyncSessionStore)
    assert_type(await get_async_store().revoke_user("alice", keep=session), int)
    session_from(request).user_id = None
    return session.user_id


def backend(key: str | None) -> None:
    store = DjangoSessionStore(key)
    assert_type(store.user_id, str | None)
    store.user_id = "alice"
    assert_type(store.store_error, StoreError | None)
    store.user_id = 3  # type: ignore[assignment]
    DjangoSessionStore(key=key)  # type: ignore[call-arg]


def middleware(get_response: Any) -> SessionMiddleware:
    return SessionMiddleware(get_response)
