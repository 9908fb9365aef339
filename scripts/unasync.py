#!/usr/bin/env python3
"""Generate the sync driver from the async one (httpcore's approach).

python scripts/unasync.py          # rewrite src/hasession/_sync/store.py
python scripts/unasync.py --check  # fail if it is out of date (run by `make lint`)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src" / "hasession"
FILES = ["store.py", "_sentinel_ops.py"]

# Order matters: longer patterns first.
SUBS = [
    (r"async def ", "def "),
    (r"async with ", "with "),
    (r"async for ", "for "),
    (r"await ", ""),
    (r"AsyncSessionStore", "SessionStore"),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"\.aclose\(", ".close("),
    (r"Awaitable\[([^\[\]]*(?:\[[^\[\]]*\])?)\]", r"\1"),  # Awaitable[list[Reply]] -> list[Reply]
    (r"import Awaitable, ", "import "),
    (r"\b_async\b", "_sync"),
    (
        r"The async session store: runs the sans-IO flows on redis-py's asyncio connections.",
        "The sync session store: runs the sans-IO flows on redis-py's connections.",
    ),
    (
        r"This file is the source of truth for ``_sync/store.py``, which ``scripts/unasync.py``\n"
        r"generates from it; edit this one and re-run the script.",
        "GENERATED from ``_async/store.py`` by ``scripts/unasync.py``: do not edit by hand.",
    ),
]


def unasync(text: str) -> str:
    for pattern, replacement in SUBS:
        text = re.sub(pattern, replacement, text)
    return _format(text)


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
    for name in FILES:
        source, target = ROOT / "_async" / name, ROOT / "_sync" / name
        wanted = unasync(source.read_text())
        if target.exists() and target.read_text() == wanted:
            continue
        if check:
            stale.append(str(target))
        else:
            target.write_text(wanted)
    if stale:
        print("out of date, run `python scripts/unasync.py`:", *stale, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
