"""What every ``hasession`` command shares: where its URL comes from, and its one-line errors.

A command module has ``add_parser(sub)``, which declares its arguments (``url_arguments`` for a
URL) and sets ``func``; it imports optional dependencies inside ``func`` and calls
:func:`require_extra` first. Errors meant for the operator are :class:`CommandError`,
:class:`~hasession.ConfigurationError` or :class:`~hasession.StoreError`: ``main`` prints them on
one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
from typing import Any

from .._topology import Sentinel
from .._url import parse_url

__all__ = [
    "URL_ENV",
    "CommandError",
    "described",
    "require_extra",
    "resolve_url",
    "sentinel_url",
    "url_arguments",
]

#: What the ``cli`` extra installs (see pyproject.toml).
CLI_EXTRA = ("httpx", "uvicorn", "starlette")
#: The environment variable a command reads its URL from when none is given.
URL_ENV = "HASESSION_URL"


class CommandError(Exception):
    """A problem the operator can fix; printed on one line, exit status 2."""


def url_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The URL, as an argument, from ``--url-file`` or from ``$HASESSION_URL``.

    A URL with a password given as an argument is visible to other users of the machine (``ps``):
    prefer the file or the environment for those.
    """
    parser.add_argument(
        "url",
        nargs="?",
        default=argparse.SUPPRESS,
        help=f"{what}; default: --url-file, then ${URL_ENV}. Passwords given here show in `ps`: "
        f"prefer --url-file or ${URL_ENV}",
    )
    parser.add_argument(
        "--url-file",
        type=Path,
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="read the URL from the first line of this file",
    )


def hold_budget_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--hold-budget SECONDS``, defaulting to :class:`~hasession.RetryPolicy`'s."""
    from .. import RetryPolicy

    parser.add_argument(
        "--hold-budget", type=float, default=RetryPolicy().hold_budget, metavar="SECONDS", help=help_text
    )


def resolve_url(args: argparse.Namespace) -> str:
    """The URL from the arguments, the file or the environment (exactly one of the first two)."""
    given, path = getattr(args, "url", None), getattr(args, "url_file", None)
    if given and path:
        raise CommandError("give the URL either as an argument or with --url-file, not both")
    if path:
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise CommandError(f"cannot read --url-file {path}: {exc.strerror}") from None
        if not lines or not lines[0].strip():
            raise CommandError(f"--url-file {path} is empty")
        return str(lines[0].strip())
    url = given or os.environ.get(URL_ENV, "").strip()
    if not url:
        raise CommandError(f"no URL: give one as an argument, with --url-file PATH, or in ${URL_ENV}")
    return str(url)


def sentinel_url(url: str, command: str) -> Sentinel:
    """The Sentinel topology of ``url``; any other kind of URL is a :class:`CommandError`."""
    topology = parse_url(url)
    if not isinstance(topology, Sentinel):
        raise CommandError(f"{command} needs a redis+sentinel:// URL, not {topology}")
    return topology


def require_extra(extra: str, *modules: str) -> None:
    """Fail with the ``pip install`` line to run when an optional dependency is missing."""
    if missing := [name for name in modules if importlib.util.find_spec(name) is None]:
        raise CommandError(f"this command needs {', '.join(missing)}: pip install 'hasession[{extra}]'")


def described(sub: Any, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """A subcommand parser whose help shows the defaults (every option says its unit in its help)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    return parser
