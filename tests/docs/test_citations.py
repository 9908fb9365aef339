"""Docstrings, comments and docs cite only what a reader of the repository can open.

Design notes live in docs/design.md; a citation of one of its sections (``docs/design.md, *Title*``)
must name a section that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"
FOLDERS = ("src", "tests", "docs", "bench", "examples", "scripts", "typing_tests")
SUFFIXES = {".py", ".md", ".lua", ".toml", ".txt", ".cfg", ".sh"}
# Files outside the repository that earlier comments cited.
OUTSIDE = re.compile(r"HA-NOTES|fault #[0-9]|STYLE\.md|STYLE principle")
CITATION = re.compile(r"docs/design\.md, \*([^*]+)\*")


def repo_files() -> list[Path]:
    found = [ROOT / "README.md"]
    for folder in FOLDERS:
        found += [p for p in (ROOT / folder).rglob("*") if p.suffix in SUFFIXES and ".venv" not in p.parts]
    return sorted(p for p in found if p.is_file() and p != Path(__file__).resolve())  # not this file


def test_nothing_cites_notes_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in repo_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_every_citation_of_the_design_notes_names_one_of_their_sections() -> None:
    sections = set(re.findall(r"^## (.+)$", DESIGN.read_text(), flags=re.MULTILINE))
    cited = {
        (title, str(path.relative_to(ROOT)))
        for path in repo_files()
        for title in CITATION.findall(" ".join(path.read_text(errors="replace").split()))
    }
    assert cited, "no file cites docs/design.md"
    assert sorted(c for c in cited if c[0] not in sections) == []


@pytest.mark.parametrize("text", ["see HA-NOTES §2", "fault #4", "STYLE principle 10", "STYLE.md"])
def test_the_outside_citations_are_recognised(text: str) -> None:
    assert OUTSIDE.search(text)
