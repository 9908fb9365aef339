"""scripts/unasync.py: every file it writes says it is generated, and a pattern that matches nothing fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "unasync.py"


@pytest.fixture
def unasync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_files_are_up_to_date(unasync: ModuleType) -> None:
    assert unasync.main(["--check"]) == 0


def test_every_generated_file_starts_with_the_banner_and_never_calls_itself_the_source(
    unasync: ModuleType,
) -> None:
    for name in unasync.FILES:
        text = (unasync.ROOT / "_sync" / name).read_text()
        banner = f"# GENERATED from src/hasession/_async/{name} by scripts/unasync.py: do not edit.\n"
        assert text.startswith(banner), name
        assert "source of truth" not in text, name
        assert "async" not in text.splitlines()[1], name  # the docstring's first line describes the sync twin


def test_a_pattern_that_matches_nothing_fails_the_script(
    unasync: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    unasync.SUBS.append((r"no file has this text: 6f1d2", "x"))
    assert unasync.main(["--check"]) == 2
    assert "no file has this text" in capsys.readouterr().err


def test_every_pattern_is_used(unasync: ModuleType) -> None:
    used: set[str] = set()
    for name in unasync.FILES:
        unasync.unasync((unasync.ROOT / "_async" / name).read_text(), name, used)
    assert used == {pattern for pattern, _ in unasync.SUBS}
