"""The temporary folder that holds one server's or topology's files, removed when it stops."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from . import _settings

__all__ = ["kept", "make_workdir", "remove_workdir"]

#: Folders kept (``keep_files``) by this process, in the order they were stopped.
kept: list[Path] = []


def make_workdir(prefix: str, parent: str | Path | None = None) -> Path:
    """A new empty folder under ``parent`` (default: the system temp folder)."""
    return Path(tempfile.mkdtemp(prefix=f"hasession-{prefix}-", dir=parent))


def remove_workdir(path: Path) -> None:
    """Delete the folder, or keep it and say where it is when the settings ask to keep files."""
    if _settings.current().keep_files:
        kept.append(path)
        print(f"hasession.testing: kept {path}", file=sys.stderr)
        return
    shutil.rmtree(path, ignore_errors=True)
