"""Django's own session tests, run against ``hasession.django`` on a real Redis.

``SessionTestsMixin`` (``tests/sessions_tests/tests.py`` in Django's source distribution) is the
contract every Django session backend passes: here its ``backend`` is ``hasession.django.SessionStore``
and every one of its tests runs. ``SessionMiddlewareTests`` (Django's middleware driving the configured
``SESSION_ENGINE``) runs too, with ``SESSION_ENGINE = "hasession.django"``.
"""

from __future__ import annotations

import importlib
import unittest
from collections.abc import Iterator

import pytest

from . import bootstrap

SUITE = bootstrap.configure()
if SUITE.path is None:
    pytest.skip(SUITE.reason, allow_module_level=True)

from django.test import SimpleTestCase, override_settings  # noqa: E402 - needs configured settings

from hasession.django import SessionStore  # noqa: E402

# Not bound to module names: pytest would collect Django's own TestCase classes, on Django's backends.
django_tests = importlib.import_module(f"{bootstrap.SUITE_PACKAGE}.tests")
#: Django's defaults, which its middleware tests assume (the example project changes a few).
DJANGO_COOKIE = {"SESSION_COOKIE_NAME": "sessionid", "SESSION_COOKIE_SECURE": False}


@pytest.fixture
def hasession_engine(hasession_redis_url: str) -> Iterator[None]:
    with override_settings(
        HASESSION={"URL": hasession_redis_url}, SESSION_ENGINE="hasession.django", **DJANGO_COOKIE
    ):
        yield


@pytest.mark.usefixtures("hasession_engine")
class TestSessionBackendContract(django_tests.SessionTestsMixin, SimpleTestCase):  # type: ignore[misc]
    """Every test of Django's ``SessionTestsMixin``, on hasession."""

    backend = SessionStore


@pytest.mark.usefixtures("hasession_engine")
class TestDjangoMiddlewareOnHASession(django_tests.SessionMiddlewareTests):  # type: ignore[misc]
    """Django's ``SessionMiddlewareTests``, with hasession as ``SESSION_ENGINE``."""

    # Two tests are tied to Django's database backend; test_django.py checks the same behaviour on hasession.
    @unittest.skip("saves through django.contrib.sessions' database backend, not SESSION_ENGINE")
    def test_session_update_error_redirect(self) -> None: ...

    @unittest.skip("reads the stored session through django.contrib.sessions' database model")
    def test_empty_session_saved(self) -> None: ...
