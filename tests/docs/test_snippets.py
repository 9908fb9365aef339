"""Every ```python block of README.md and docs/**/*.md runs, as written, against real Redis servers.

The rules (also in docs/README.md, for whoever writes a page):

* The blocks of one page run in order, in one namespace, like a session at the Python prompt: a
  block may use what an earlier block of the same page defined, and nothing else.
* Their URLs are real servers started by :mod:`hasession.testing`: ``redis://localhost:6379/...``
  becomes a ``RedisServer``, ``redis+sentinel://...`` a ``SentinelTopology`` and
  ``redis+cluster://...`` a ``ClusterTopology`` (each started once, only if a page needs it).
* Names must be defined, also inside functions that the page only defines (``ruff`` rule F821).
* A block whose first line is ``# test_<name>.py`` is a pytest module: it runs with pytest (and
  hasession's plugin) in a fresh process, and every test in it must pass.
* A block whose first line is ``# not run: <reason>`` is skipped, with that reason, in plain view.
* Blocks tagged other than ``python`` (``sh``, ``text``, none) are not run.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hasession import AsyncSessionStore, SessionStore
from hasession.testing import ClusterTopology, RedisServer, SentinelTopology

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_SKIP = re.compile(r"# not run: (\S.*)")
_PYTEST_FILE = re.compile(r"# (test_\w+\.py)$")
_URLS = {
    "redis": re.compile(r"redis://localhost:6379(?=[/\"'?])"),
    "sentinel": re.compile(r"redis\+sentinel://[^\"'\s]+"),
    "cluster": re.compile(r"redis\+cluster://[^\"'\s]+"),
}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.code.partition("\n")[0].strip()


def blocks_of(page: Path) -> list[Block]:
    text = page.read_text()
    return [Block(page, text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


class Servers:
    """Real servers for the snippets' URLs, each started the first time a page names its kind."""

    def __init__(self, stack: ExitStack, tmp: Path) -> None:
        self._stack, self._tmp, self._urls = stack, tmp, {}  # type: ignore[var-annotated]

    def url(self, kind: str) -> str:
        if kind not in self._urls:
            make: dict[str, Any] = {
                "redis": lambda: RedisServer(tmpdir=self._tmp),
                "sentinel": lambda: SentinelTopology(replicas=1, sentinels=3, tmpdir=self._tmp),
                "cluster": lambda: ClusterTopology(primaries=3, replicas_per_primary=0, tmpdir=self._tmp),
            }
            self._urls[kind] = self._stack.enter_context(make[kind]()).url
        url: str = self._urls[kind]
        return url.removesuffix("/0") if kind == "redis" else url

    def rewrite(self, code: str) -> str:
        for kind, pattern in _URLS.items():
            if pattern.search(code):
                code = pattern.sub(self.url(kind), code)
        return code


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with ExitStack() as stack:
        yield Servers(stack, tmp_path_factory.mktemp("snippet-servers"))


def test_every_page_is_found() -> None:
    names = {str(page.relative_to(ROOT)) for page in PAGES}
    assert {"README.md", "docs/testing.md", "docs/integrations/django.md"} <= names
    assert all(blocks_of(ROOT / name) for name in ("README.md", "docs/testing.md"))


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_names_are_defined(page: Path) -> None:
    """Undefined names inside functions only fail when called: ruff finds them without calling."""
    code = "\n".join(b.code for b in blocks_of(page) if not _SKIP.match(b.first_line))
    if not code:
        pytest.skip("no python block")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--select",
            "F821",
            "--stdin-filename",
            "page.py",
            "-",
        ],
        input=code,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"{page.relative_to(ROOT)}: undefined names\n{done.stdout}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_the_python_blocks_run(
    page: Path, servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = blocks_of(page)
    if not blocks:
        pytest.skip("no python block")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": f"snippets_{page.stem}"}
    skipped = []
    try:
        for block in blocks:
            if reason := _SKIP.match(block.first_line):
                skipped.append(f"{block.where}: {reason.group(1)}")
            elif module := _PYTEST_FILE.match(block.first_line):
                run_as_pytest(block, servers.rewrite(block.code), tmp_path / module.group(1))
            else:
                run_block(block, servers.rewrite(block.code), namespace)
    finally:
        close_stores(namespace)
    if skipped:
        pytest.skip("; ".join(skipped))  # visible in the report: -ra lists the reasons


def run_block(block: Block, code: str, namespace: dict[str, Any]) -> None:
    import ast

    compiled = compile(code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def run_as_pytest(block: Block, code: str, path: Path) -> None:
    path.write_text(code)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=path.parent,
    )
    assert done.returncode == 0, f"{block.where}: the test module failed\n{done.stdout}\n{done.stderr}"


def close_stores(namespace: dict[str, Any]) -> None:
    for value in namespace.values():
        if isinstance(value, SessionStore):
            value.close()
        elif isinstance(value, AsyncSessionStore):
            asyncio.run(value.close())
