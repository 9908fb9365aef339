#!/usr/bin/env python3
"""Generate the sync driver from the async one (httpcore's approach).

python scripts/unasync.py          # rewrite the files of src/hasession/_sync/ named in FILES
python scripts/unasync.py --check  # fail if one is out of date (run by `make lint`)

Every file written starts with a "GENERATED ... do not edit" banner, and the script fails when one
of its substitutions matched nothing (a pattern that silently stopped applying is a bug).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src" / "hasession"
FILES = ["store.py", "_switchover.py"]

# Order matters: longer patterns first.
SUBS = [
    (r"async def ", "def "),
    (r"await ", ""),
    (r"AsyncSessionStore", "SessionStore"),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"Awaitable\[([^\[\]]*(?:\[[^\[\]]*\])?)\]", r"\1"),  # Awaitable[list[Reply]] -> list[Reply]
    (r"import Awaitable, ", "import "),
    (r"\b_async\b", "_sync"),
    (
        r"The async session store: runs the sans-IO flows on its own asyncio connections",
        "The sync session store: runs the sans-IO flows on its own blocking sockets",
    ),
    # The async file's note that it is the source: the banner says where the copy comes from.
    (r"\n*This file is the source of truth for ``_sync/[\w.]+``(?:[^`]|``[^`]*``)*?\.(?=\n)", ""),
]

BANNER = "# GENERATED from src/hasession/_async/{name} by scripts/unasync.py: do not edit.\n"


class UnusedPattern(Exception):
    """A substitution of :data:`SUBS` matched none of the files."""


def unasync(text: str, name: str, used: set[str] | None = None) -> str:
    """The sync twin of the async file ``name`` whose text is ``text``; adds to ``used`` each
    pattern that matched."""
    for pattern, replacement in SUBS:
        text, count = re.subn(pattern, replacement, text)
        if count and used is not None:
            used.add(pattern)
    return BANNER.format(name=name) + _format(text)


def check_all_used(used: set[str]) -> None:
    """Fail if a pattern of :data:`SUBS` matched nothing (as httpcore's unasync does)."""
    unused = [pattern for pattern, _ in SUBS if pattern not in used]
    if unused:
        raise UnusedPattern(f"unasync patterns that matched nothing: {unused}")


def _format(text: str) -> str:
    """Format like the rest of the tree (removing ``await`` changes line lengths)."""
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run(
        [str(ruff), "format", "--stdin-filename", "store.py", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    used: set[str] = set()
    wanted = {name: unasync((ROOT / "_async" / name).read_text(), name, used) for name in FILES}
    try:
        check_all_used(used)
    except UnusedPattern as exc:
        print(exc, file=sys.stderr)
        return 2
    for name in FILES:
        target = ROOT / "_sync" / name
        if target.exists() and target.read_text() == wanted[name]:
            continue
        if check:
            stale.append(str(target))
        else:
            target.write_text(wanted[name])
    if stale:
        print("out of date, run `python scripts/unasync.py`:", *stale, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
