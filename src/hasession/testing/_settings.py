"""Harness-wide settings: which redis-server to run, and whether to keep the files of stopped topologies.

The pytest plugin sets them from its ``--hasession-*`` options; code outside pytest can call
:func:`configure` (re-exported as ``hasession.testing.configure``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from ._errors import HarnessError

__all__ = ["Settings", "configure", "current", "redis_server_binary", "redis_version", "restore"]

_ENV_BINARY = "HASESSION_REDIS_SERVER"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What every server and topology started afterwards uses.

    .. versionadded:: 0.1
    """

    #: Path of the ``redis-server`` binary; None: ``$HASESSION_REDIS_SERVER``, then ``redis-server`` on PATH.
    redis_server: str | None = None
    #: Keep each topology's folder (configs, logs, data) after it stops, instead of deleting it.
    keep_files: bool = False
    #: Seconds a start-up may take before :class:`~hasession.testing.StartupError` is raised.
    startup_timeout: float = 20.0


_current = Settings()


def configure(
    *, redis_server: str | None = None, keep_files: bool | None = None, startup_timeout: float | None = None
) -> Settings:
    """Change the harness settings for servers and topologies started from now on; return the new settings.

    Arguments left as None keep their current value.

    .. versionadded:: 0.1
    """
    global _current
    _current = dataclasses.replace(
        _current,
        redis_server=_current.redis_server if redis_server is None else redis_server,
        keep_files=_current.keep_files if keep_files is None else keep_files,
        startup_timeout=_current.startup_timeout if startup_timeout is None else startup_timeout,
    )
    return _current


def restore(settings: Settings) -> None:
    """Put back settings returned by :func:`current` earlier."""
    global _current
    _current = settings


def current() -> Settings:
    """The settings in effect."""
    return _current


def redis_server_binary() -> str:
    """The redis-server to run: the configured path, then ``$HASESSION_REDIS_SERVER``, then ``PATH``."""
    name = _current.redis_server or os.environ.get(_ENV_BINARY) or "redis-server"
    found = shutil.which(name)
    if found is None:
        raise HarnessError(
            f"redis-server not found ({name!r}). Install it (Debian: apt-get install redis-server), or point "
            f"${_ENV_BINARY} or --hasession-redis-server at a redis-server binary."
        )
    return found


def redis_version() -> tuple[int, int]:
    """(major, minor) of :func:`redis_server_binary`, from ``redis-server --version``."""
    return _version_of(redis_server_binary())


@functools.cache
def _version_of(binary: str) -> tuple[int, int]:
    output = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"v=(\d+)\.(\d+)", output)
    if match is None:
        raise HarnessError(f"cannot read the version of {binary}: {output!r}")
    return int(match[1]), int(match[2])
