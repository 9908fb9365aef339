"""Real Redis for tests: standalone servers, Sentinel topologies and clusters on loopback, with faults.

Everything here starts real ``redis-server`` processes (``$HASESSION_REDIS_SERVER`` or ``redis-server`` on
``PATH``) in temporary folders, and stops them on exit, on failure and on Ctrl-C::

    from hasession.testing import SentinelTopology

    with SentinelTopology(replicas=2, sentinels=3) as topology:
        old = topology.kill_master()
        new = topology.wait_for_new_master(old)

The pytest plugin (:mod:`hasession.testing.pytest_plugin`, registered automatically) provides ready fixtures
and fixture factories. See ``docs/testing.md``.

.. versionadded:: 0.1
"""

from __future__ import annotations

from ._cluster import ClusterTopology
from ._errors import HarnessError, StartupError, WaitTimeout
from ._node import Node
from ._sentinel import SentinelSettings, SentinelTopology
from ._server import RedisServer
from ._settings import Settings, configure
from ._tls import TLSFiles
from ._topology import LocalTopology
from ._wait import wait_until

__all__ = [
    "ClusterTopology",
    "HarnessError",
    "LocalTopology",
    "Node",
    "RedisServer",
    "SentinelSettings",
    "SentinelTopology",
    "Settings",
    "StartupError",
    "TLSFiles",
    "WaitTimeout",
    "configure",
    "wait_until",
]


def __getattr__(name: str) -> type[LocalTopology]:
    if name == "Topology":  # renamed: it was easy to confuse with hasession.Topology
        import warnings

        warnings.warn(
            "hasession.testing.Topology is now hasession.testing.LocalTopology",
            DeprecationWarning,
            stacklevel=2,
        )
        return LocalTopology
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
