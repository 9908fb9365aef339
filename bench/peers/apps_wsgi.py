"""The Flask and Django subjects, served by gunicorn's gthread worker (``'bench.peers.apps_wsgi:flask()'``).

Peers: Flask-Session (``SESSION_TYPE = "redis"``) and Django's cache session engine on django-redis (its
``SentinelClient``). hasession: :mod:`hasession.flask` and the ``hasession.django`` engine and middleware.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .common import LIFETIME, SECRET, SESSION, settings


def flask() -> Any:
    """The Flask app of this process's ``BENCH_VARIANT``."""
    from datetime import timedelta

    from flask import Flask, request, session

    config = settings()
    app = Flask("bench_peers")
    app.config.update(SECRET_KEY=SECRET, PERMANENT_SESSION_LIFETIME=timedelta(seconds=LIFETIME))
    bare: dict[str, Any] = {}
    if config.variant == "hasession":
        import hasession
        import hasession.flask

        hasession.flask.init_app(app, store=hasession.SessionStore.from_url(config.url, secret_keys=SECRET))
    elif config.variant == "peer":
        from flask_session import Session

        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=config.sentinel_client())
        Session(app)

    def current() -> Any:
        return bare.copy() if config.variant == "bare" else session

    @app.get("/new")
    def new() -> str:
        current().update(SESSION)
        return "ok"

    @app.get("/read")
    def read() -> str:
        return str(current().get("user_id"))

    @app.get("/write")
    def write() -> str:
        current()["counter"] = int(request.args["v"])
        return "ok"

    return app


def django() -> Any:
    """The Django WSGI app of this process's ``BENCH_VARIANT``."""
    import django as django_package
    from django.conf import settings as django_settings
    from django.core.wsgi import get_wsgi_application

    config = settings()
    options: dict[str, Any] = {"MIDDLEWARE": []}
    if config.variant == "hasession":
        options = {
            "MIDDLEWARE": ["hasession.django.SessionMiddleware"],
            "SESSION_ENGINE": "hasession.django",
            "HASESSION": {"URL": config.url, "SECRET_KEYS": [SECRET]},
        }
    elif config.variant == "peer":
        options = {
            "MIDDLEWARE": ["django.contrib.sessions.middleware.SessionMiddleware"],
            "SESSION_ENGINE": "django.contrib.sessions.backends.cache",
            "CACHES": {"default": _django_redis_cache(config.sentinels, config.master_name)},
            "DJANGO_REDIS_CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
        }
    django_settings.configure(
        DEBUG=False,
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[],
        USE_TZ=True,
        ROOT_URLCONF=_django_urls(config.variant == "bare"),
        SESSION_COOKIE_AGE=LIFETIME,
        **options,
    )
    django_package.setup()
    return get_wsgi_application()


def _django_redis_cache(sentinels: list[tuple[str, int]], master_name: str) -> dict[str, Any]:
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://{master_name}/0",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "SENTINELS": sentinels,
            "CONNECTION_POOL_CLASS": "redis.sentinel.SentinelConnectionPool",
            "SOCKET_TIMEOUT": 5.0,
        },
    }


def _django_urls(bare: bool) -> ModuleType:
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    def current(request: HttpRequest) -> Any:
        return {} if bare else request.session

    def new(request: HttpRequest) -> HttpResponse:
        current(request).update(SESSION)
        return HttpResponse("ok")

    def read(request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(current(request).get("user_id")))

    def write(request: HttpRequest) -> HttpResponse:
        current(request)["counter"] = int(request.GET["v"])
        return HttpResponse("ok")

    urls = ModuleType("bench_peers_urls")  # ROOT_URLCONF may be a module object instead of a dotted path
    urls.urlpatterns = [path("new", new), path("read", read), path("write", write)]  # type: ignore[attr-defined]
    return urls
