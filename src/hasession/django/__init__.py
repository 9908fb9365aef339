"""Django integration: ``SESSION_ENGINE = "hasession.django"``.

::

    # settings.py
    SESSION_ENGINE = "hasession.django"
    MIDDLEWARE = ["hasession.django.SessionMiddleware", ...]  # instead of Django's
    HASESSION = {"URL": "redis+sentinel://s1:26379,s2:26379/mymaster/0"}

``request.session`` keeps Django's API (``cycle_key()`` at log-in, ``flush()`` at log-out) and
adds hasession's ``user_id``. :func:`session_from` gives the hasession :class:`~hasession.Session`
behind it, for ``get_store().revoke_user(user_id, keep=session)``.

There is no ``init_app()``: Django has no application object, and ``settings.HASESSION`` is
where the store is configured (see :mod:`hasession.django._stores`).

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import Any

from .. import Session
from ._backend import SessionStore
from ._middleware import SessionMiddleware
from ._stores import get_async_store, get_store, store_config

__all__ = [
    "SessionMiddleware",
    "SessionStore",
    "asession_from",
    "get_async_store",
    "get_store",
    "session_from",
    "store_config",
]


def session_from(request: Any) -> Session:
    """The hasession session behind ``request.session``, loaded (sync views).

    .. versionadded:: 0.1
    """
    return _store_of(request)._data()


async def asession_from(request: Any) -> Session:
    """The hasession session behind ``request.session``, loaded (async views).

    .. versionadded:: 0.1
    """
    return await _store_of(request)._adata()


def _store_of(request: Any) -> SessionStore:
    session = getattr(request, "session", None)
    if not isinstance(session, SessionStore):
        raise RuntimeError('request.session is not hasession\'s: set SESSION_ENGINE = "hasession.django"')
    return session
