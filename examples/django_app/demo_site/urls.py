"""The example's routes (the same as the other hasession examples)."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("health", views.health),
    path("whoami", views.whoami),
    path("count", views.count),
    path("login", views.login),
    path("logout", views.logout),
    path("revoke-others", views.revoke_others),
]
