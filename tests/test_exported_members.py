"""The public API is what ``__all__`` says, and ``import hasession`` stays light.

See docs/design.md, *The public API*.
"""

from __future__ import annotations
import __future__

import importlib
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import hasession

FRAMEWORKS = {"flask", "django", "starlette", "fastapi", "aiohttp"}


def _public_modules() -> list[str]:
    found = ["hasession"]
    for info in pkgutil.walk_packages(hasession.__path__, "hasession."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            found.append(info.name)
    return sorted(found)


def _private_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(hasession.__path__, "hasession.")
        if any(part.startswith("_") for part in info.name.split(".")[1:])
        and not info.ispkg
        and not info.name.endswith(".__main__")  # importing it would run the CLI
    )


PUBLIC = _public_modules()
PRIVATE = _private_modules()


def _import(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:  # an optional framework is not installed
        if exc.name and exc.name.split(".")[0] in FRAMEWORKS | {"prometheus_client"}:
            pytest.skip(f"{name} needs {exc.name}")
        raise


def test_every_name_in_all_exists() -> None:
    missing = [name for name in hasession.__all__ if not hasattr(hasession, name)]
    assert missing == []


def test_all_is_sorted_without_duplicates() -> None:
    assert hasession.__all__ == sorted(set(hasession.__all__))


def test_every_public_name_is_in_all() -> None:
    """As httpx does: what ``hasession`` holds is exactly what ``__all__`` lists."""
    public = {
        name
        for name, value in vars(hasession).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)  # submodules other code imported
        and not isinstance(value, __future__._Feature)
    }
    assert sorted(public) == sorted(set(hasession.__all__) - {"__version__"})


def test_the_version() -> None:
    assert isinstance(hasession.__version__, str)
    assert hasession.__version__.count(".") >= 2


@pytest.mark.parametrize("name", sorted(set(hasession.__all__) - {"__version__"}))
def test_each_export_comes_from_a_module_that_lists_it(name: str) -> None:
    value = getattr(hasession, name)
    owners = [
        module
        for module in PRIVATE
        if name in getattr(importlib.import_module(module), "__all__", ())
        and getattr(importlib.import_module(module), name) is value
    ]
    assert owners, f"{name} is re-exported but no private module lists it in __all__"


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_module_has_a_consistent_all(name: str) -> None:
    module = _import(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"duplicates in {name}.__all__"
    assert [n for n in exported if not hasattr(module, n)] == []
    assert [n for n in exported if n.startswith("_") and n != "__version__"] == []
    defined = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith(("_", "pytest_"))  # pytest hooks are found by name, not exported
        and (issubclass(type(value), type) or type(value) is types.FunctionType)
        and getattr(value, "__module__", None) == name
    }
    assert sorted(defined - set(exported)) == [], f"public but missing from {name}.__all__"


def _is_core(name: str) -> bool:
    """``hasession._x`` and the drivers (``hasession._async.x``, ``hasession._sync.x``)."""
    parts = name.split(".")
    return len(parts) == 2 or parts[1] in ("_async", "_sync")


@pytest.mark.parametrize("name", PRIVATE)
def test_every_private_module_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None and not _is_core(name):
        pytest.skip(f"{name} declares no __all__ (only the core must)")
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported))
    assert [n for n in exported if not hasattr(module, n)] == []


def test_import_hasession_imports_no_web_framework() -> None:
    code = (
        "import hasession, sys; print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'flask','django','starlette','fastapi','aiohttp'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_the_package_ships_type_information() -> None:
    assert (Path(hasession.__file__).parent / "py.typed").is_file()
