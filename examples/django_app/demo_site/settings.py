"""The example's only settings module. Configuration comes from the environment:

- ``HASESSION_URL``: where sessions live (``redis://``, ``redis+sentinel://`` or ``redis+cluster://``).
- ``DJANGO_SECRET_KEY``: Django's key; hasession derives its cookie-signing keys from it.
"""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-django-secret-key-do-not-deploy-0123456789")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}  # no database: sessions are in Redis
USE_TZ = True

# hasession's middleware replaces django.contrib.sessions'. A real app keeps CsrfViewMiddleware
# (and the rest of its usual stack); this example leaves it out to stay short.
MIDDLEWARE = ["hasession.django.SessionMiddleware"]
SESSION_ENGINE = "hasession.django"
SESSION_COOKIE_NAME = "session"
SESSION_COOKIE_SECURE = True
HASESSION = {"URL": os.environ.get("HASESSION_URL", "redis://localhost:6379/0")}
