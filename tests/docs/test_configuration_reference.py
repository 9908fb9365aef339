"""docs/configuration.md is generated from the code, and this test fails when it is stale."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from hasession import StoreConfig
from hasession._options import option_fields
from hasession._url import _OPTIONS as URL_OPTIONS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "configuration_reference.py"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("configuration_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_page_is_up_to_date() -> None:
    script = generator()
    page = script.TARGET.read_text()
    assert page == script.render(), (
        "docs/configuration.md is stale: run python scripts/configuration_reference.py"
    )


def test_the_page_lists_every_option() -> None:
    page = generator().render()
    names = [*option_fields(StoreConfig), *URL_OPTIONS]
    for policy in generator().POLICIES:
        names += [f.name for f in dataclasses.fields(policy)]
    assert all(f"| `{name}` |" in page for name in names)
    assert "required" in page.split("| `secret_keys` |")[1].split("\n")[0]


def test_an_undocumented_field_stops_the_generator() -> None:
    script = generator()

    @dataclasses.dataclass
    class Undocumented:
        #: Documented.
        a: int = 1
        b: int = 2

    with pytest.raises(SystemExit, match=r"Undocumented\.b has no '#:' comment"):
        script.table(Undocumented, ["a", "b"])
