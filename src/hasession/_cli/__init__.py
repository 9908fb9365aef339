"""The ``hasession`` command line.

Each command is a module of this package named in :data:`COMMANDS`; it has ``add_parser(sub)``
and imports what it needs beyond hasession and the standard library (the ``cli`` extra) inside
its function. To add a command, write its module and add its name here. See ``_common.py`` for
what commands share: the URL from an argument, a file or ``$HASESSION_URL``, and one-line errors.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from typing import Any

from .._exceptions import ConfigurationError, StoreError
from ._common import CLI_EXTRA, CommandError

__all__ = ["COMMANDS", "main", "parser"]

#: Every subcommand, in the order ``--help`` lists them.
COMMANDS = ["demo", "drill", "switchover", "check", "sessions", "stats", "chaos"]


#: A session's public id (``tag.hash``, base64url): it may begin with ``-``.
_PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class _Parser(argparse.ArgumentParser):
    """argparse takes any word that begins with ``-`` for an option, so a public id such as
    ``-KoLf2Nn.t6eb...`` (one in 64 begins so) was refused as an unknown one. A word shaped like a
    public id is an argument here (no option has a dot; ``-1.5`` was an argument already). Every
    subcommand's parser is of this class (``add_subparsers`` uses the parent's)."""

    def _parse_optional(self, arg_string: str) -> Any:
        if _PUBLIC_ID.fullmatch(arg_string):
            return None
        return super()._parse_optional(arg_string)


def parser() -> argparse.ArgumentParser:
    """The ``hasession`` argument parser, with every command of :data:`COMMANDS`."""
    from .. import __version__

    top = _Parser(
        prog="hasession",
        description="Redis sessions that survive failovers: try a failover locally (demo), rehearse one "
        "on your deployment (drill), move a master without losing a write (switchover), or run a randomized "
        "fault campaign on a local topology (chaos).",
    )
    top.add_argument("--version", action="version", version=f"hasession {__version__}")
    sub = top.add_subparsers(required=True, metavar="command", title="commands")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hasession`` command: exit status 0, 1 (a check failed) or 2 (an error)."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CommandError, ConfigurationError, StoreError) as exc:
        print(f"hasession: error: {exc}", file=sys.stderr)
    except ModuleNotFoundError as exc:  # an optional dependency a command did not check first
        if (exc.name or "").partition(".")[0] not in CLI_EXTRA:
            raise
        print(f"hasession: error: {exc.name} is missing: pip install 'hasession[cli]'", file=sys.stderr)
    except KeyboardInterrupt:
        print("hasession: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
