"""The public surface of hasession.testing is what __all__ says, sorted and documented."""

from __future__ import annotations

import inspect

import pytest

import hasession.testing
from hasession.testing import pytest_plugin


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in dir(hasession.testing) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(hasession.testing, name))}
    assert hasession.testing.__all__ == sorted(hasession.testing.__all__)
    assert set(hasession.testing.__all__) == public - modules - {"annotations"}


def test_every_public_name_has_a_docstring() -> None:
    for module in (hasession.testing, pytest_plugin):
        for name in module.__all__:
            assert inspect.getdoc(getattr(module, name)), name


def test_public_methods_have_docstrings() -> None:
    for cls in (
        hasession.testing.RedisServer,
        hasession.testing.SentinelTopology,
        hasession.testing.ClusterTopology,
    ):
        for name, member in inspect.getmembers(cls):
            if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                assert inspect.getdoc(member), f"{cls.__name__}.{name}"


def test_the_old_name_of_local_topology_still_works_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="LocalTopology"):
        assert hasession.testing.Topology is hasession.testing.LocalTopology  # type: ignore[attr-defined]
    assert issubclass(hasession.testing.SentinelTopology, hasession.testing.LocalTopology)
