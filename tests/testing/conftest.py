"""Fixtures for the harness's own tests, built with the plugin's public factories."""

from __future__ import annotations

from hasession.testing.pytest_plugin import cluster_fixture, sentinel_fixture

proxied_sentinel = sentinel_fixture(proxied=True)
module_cluster = cluster_fixture(scope="module")
