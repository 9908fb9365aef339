"""Configure Django once for every hasession Django test, and fetch Django's own session tests.

Django's settings are process-wide, so ``test_django.py`` (the example project's routes) and
``test_django_suite.py`` (Django's ``SessionTestsMixin``) share one configuration: the example's
settings plus the apps Django's test module imports.

Django's tests are not in our repository: they are extracted from the sdist of the installed
Django version, which pip downloads once into ``<venv>/.hasession-test-cache/`` (the system
temporary folder if the venv is read-only). Delete that folder to download again.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "django_app"
SUITE_PACKAGE = "sessions_tests"
#: Only for the DB-backed Django test classes run here (hasession itself needs no database).
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}


@dataclass(frozen=True)
class Suite:
    """Where Django's ``sessions_tests`` package was extracted, or why it could not be."""

    path: Path | None
    reason: str = ""


@functools.cache
def configure() -> Suite:
    """Configure Django (once) from the example's settings; return Django's session test package."""
    import django
    from django.conf import settings

    suite = fetch_session_tests()
    sys.path[:0] = [str(EXAMPLE), *([str(suite.path.parent)] if suite.path else [])]
    example = importlib.import_module("demo_site.settings")
    values = {name: getattr(example, name) for name in dir(example) if name.isupper()}
    apps = ["django.contrib.sessions", SUITE_PACKAGE] if suite.path else []
    settings.configure(**{**values, "INSTALLED_APPS": apps, "DATABASES": DATABASES})
    django.setup()
    return suite


def fetch_session_tests() -> Suite:
    """Django's ``tests/sessions_tests`` for the installed version, downloaded and extracted once."""
    version = importlib.metadata.version("django")
    target = _cache_root() / f"django-{version}" / SUITE_PACKAGE
    if (target / "tests.py").is_file():
        return Suite(target)
    with tempfile.TemporaryDirectory() as download:
        failure = _download(version, Path(download))
        if failure:
            return Suite(None, f"cannot fetch Django {version}'s own session tests: {failure}")
        _extract(next(Path(download).glob("*.tar.gz")), target)
    return Suite(target)


def _cache_root() -> Path:
    base = Path(sys.prefix) if os.access(sys.prefix, os.W_OK) else Path(tempfile.gettempdir())
    return base / ".hasession-test-cache"


def _download(version: str, into: Path) -> str:
    """``pip download`` the sdist; an error message, or "" on success."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--no-binary", ":all:", f"django=={version}", "--dest", str(into)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pip download failed: {exc}"
    if done.returncode != 0 or not any(into.glob("*.tar.gz")):
        return f"pip download exited with {done.returncode}: {done.stderr.strip()[-500:]}"
    return ""


def _extract(sdist: Path, target: Path) -> None:
    """Copy ``<sdist>/tests/sessions_tests/`` to ``target`` (atomically: a rename at the end)."""
    staging = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = PurePosixPath(member.name).parts
            if member.isfile() and parts[1:3] == ("tests", SUITE_PACKAGE) and ".." not in parts:
                dest = staging.joinpath(*parts[3:])
                dest.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                dest.write_bytes(source.read())
    try:
        staging.rename(target)
    except OSError:  # another process extracted it first
        if not (target / "tests.py").is_file():
            raise
