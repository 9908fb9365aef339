"""``hasession sessions list|show|revoke`` and ``hasession stats``: look at the stored sessions.

Sessions are found with ``SCAN`` (never ``KEYS``, which blocks Redis) on every primary: the
master of a Sentinel group, each primary of a Cluster. Only public ids are printed: the keyed
hash of a session id, from which no cookie can be rebuilt. Revoking and listing a user's
sessions go through the public store API (:meth:`SessionStore.revoke`,
:meth:`SessionStore.sessions_of`).

Listing a user's sessions needs the key the application hashes ids with: put its
``id_hash_key`` (by default, its oldest ``secret_keys`` entry) in ``$HASESSION_SECRET_KEY``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from itertools import islice
from typing import Any, TypeVar

import redis
from redis.exceptions import MovedError

from .. import SessionPolicy, SessionStore
from .._topology import Address, Topology
from .._url import parse_url
from ._common import CommandError, described, resolve_url, url_arguments
from ._inventory import META, Row, Spread, key_pattern, public_id_of, row_of
from ._nodes import client, command, primaries

__all__ = ["add_parser", "add_stats_parser", "scan_rows", "stats"]

T = TypeVar("T")
SECRET_ENV = "HASESSION_SECRET_KEY"
_PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_BATCH = 200


def add_parser(sub: Any) -> None:
    """Add ``sessions`` with its actions ``list``, ``show`` and ``revoke``."""
    sessions = described(
        sub,
        "sessions",
        "list, show or revoke stored sessions (public ids only)",
        "Finds sessions with SCAN on every primary (never KEYS) and prints only public ids, from "
        "which no cookie can be rebuilt. Listing or revoking a user's sessions needs the "
        f"application's id hash key in ${SECRET_ENV}.",
    )
    actions = sessions.add_subparsers(required=True, metavar="action")
    listing = _common(described(actions, "list", "list sessions", "List stored sessions, or one user's."))
    listing.add_argument("--user", help=f"only this user's sessions (needs ${SECRET_ENV})")
    listing.add_argument("--limit", type=int, default=1000, metavar="N", help="print at most N (0: all)")
    listing.set_defaults(func=run_list)
    show = _common(described(actions, "show", "show one session", "One session's metadata and fields."))
    show.add_argument("public_id", help="a public id, as `sessions list` prints it")
    show.add_argument("--values", action="store_true", help="also print the values (unencrypted stores)")
    show.set_defaults(func=run_show)
    revoke = _common(
        described(actions, "revoke", "revoke sessions", "Revoke one session, or every session of a user.")
    )
    revoke.add_argument("public_id", nargs="?", help="the session to revoke")
    revoke.add_argument("--user", help=f"the session's user, or every session of it (needs ${SECRET_ENV})")
    revoke.set_defaults(func=run_revoke)


def add_stats_parser(sub: Any) -> None:
    """Add ``stats``."""
    stats_parser = described(
        sub,
        "stats",
        "count, memory and TTL spread of the stored sessions",
        "Scans every primary (SCAN, never KEYS) and reports the number of sessions, those with a "
        "user, tombstones, the memory per session (MEMORY USAGE on a sample) and the TTL spread.",
    )
    _common(stats_parser)
    stats_parser.add_argument(
        "--memory-sample", type=int, default=1000, metavar="N", help="keys measured with MEMORY USAGE"
    )
    stats_parser.set_defaults(func=run_stats)


def _common(parser: Any) -> Any:
    url_arguments(parser, "the URL the application uses")
    parser.add_argument(
        "--prefix", default=SessionPolicy().key_prefix, help="the key_prefix of SessionPolicy"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


# -- scanning ----------------------------------------------------------------------------------


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def scan_keys(node: redis.Redis, prefix: str) -> Iterator[list[bytes]]:
    """Batches of session keys on one node, by SCAN (incremental, never blocks the server)."""
    return _chunks(node.scan_iter(match=key_pattern(prefix), count=500, _type="HASH"), _BATCH)


def scan_rows(topology: Topology, prefix: str) -> Iterator[tuple[Address, bytes, Row]]:
    """Every stored session (tombstones included) of every primary."""
    for options, address in primaries(topology):
        with client(options, address, decode=False) as node:
            for keys in scan_keys(node, prefix):
                yield from _rows(node, prefix, address, keys)


def _rows(
    node: redis.Redis, prefix: str, address: Address, keys: list[bytes]
) -> Iterator[tuple[Address, bytes, Row]]:
    pipe = node.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, META)
        pipe.pttl(key)
    replies = pipe.execute()
    for key, meta, ttl in zip(keys, replies[::2], replies[1::2], strict=True):
        public_id = public_id_of(prefix, key.decode(errors="replace"))
        if public_id is None or ttl < 0 or all(v is None for v in meta):
            continue  # not a session, or gone since the SCAN
        yield address, key, row_of(public_id, meta, ttl)


def _store(args: argparse.Namespace, *, needs_secret: bool) -> SessionStore:
    secret = os.environ.get(SECRET_ENV)
    if needs_secret and not secret:
        raise CommandError(f"set ${SECRET_ENV} to the application's id_hash_key (or oldest secret key)")
    return SessionStore.from_url(
        resolve_url(args),
        secret_keys=secret or secrets.token_bytes(32),
        session=SessionPolicy(key_prefix=args.prefix),
        sentinel_events=False,
    )


# -- list ----------------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    rows = _user_rows(args) if args.user is not None else _all_rows(args)
    limit = args.limit or None
    shown = list(islice(rows, limit))
    total = len(shown) + sum(1 for _ in rows)
    if args.json:
        print(json.dumps({"total": total, "sessions": [asdict(r) for r in shown]}, indent=2))
    else:
        print(_table(shown))
        print(f"{total} session(s)" + (f", {len(shown)} shown" if len(shown) < total else ""))
    return 0


def _all_rows(args: argparse.Namespace) -> Iterator[Row]:
    return (row for _, _, row in scan_rows(parse_url(resolve_url(args)), args.prefix) if not row.tombstone)


def _user_rows(args: argparse.Namespace) -> Iterator[Row]:
    now = int(time.time() * 1000)
    with _store(args, needs_secret=True) as store:
        infos = store.sessions_of(args.user)
    for info in infos:
        yield Row(
            public_id=info.public_id,
            created_ms=info.created_ms,
            last_seen_ms=info.last_seen_ms,
            expires_ms=info.expires_ms,
            ttl_ms=max(info.expires_ms - now, 0),
            user=args.user,
        )


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) if ms else "-"


def _duration(ms: int) -> str:
    seconds = ms // 1000
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    return f"{days}d {hours}h" if days else f"{hours}h {minutes}m" if hours else f"{minutes}m {seconds % 60}s"


def _table(rows: list[Row]) -> str:
    head = f"{'public id':60} {'user':20} {'created (UTC)':19} {'last seen (UTC)':19} {'ttl':>8}"
    lines = [head]
    for r in rows:
        user = (r.user or "-")[:20]
        lines.append(
            f"{r.public_id:60} {user:20} {_when(r.created_ms):19} {_when(r.last_seen_ms):19} "
            f"{_duration(r.ttl_ms):>8}"
        )
    return "\n".join(lines)


# -- show ----------------------------------------------------------------------------------------


def _public_id(text: str) -> str:
    if _PUBLIC_ID.fullmatch(text) is None:
        raise CommandError(f"{text!r} is not a public id (<tag>.<hash>, as `sessions list` prints)")
    return text


def on_owner(topology: Topology, key: str, read: Callable[[redis.Redis], T]) -> T:
    """Run ``read`` on the primary that owns ``key`` (following a Cluster's MOVED once)."""
    options, address = primaries(topology)[0]
    try:
        with client(options, address, decode=False) as node:
            return read(node)
    except MovedError as moved:  # its text is "<slot> <host>:<port>", without the MOVED word
        with client(options, Address(str(moved.host).strip("[]"), int(moved.port)), decode=False) as node:
            return read(node)


def run_show(args: argparse.Namespace) -> int:
    public_id = _public_id(args.public_id)
    tag, _, hashed = public_id.partition(".")
    key = f"{args.prefix}:{{{tag}}}:{hashed}"

    def read(node: redis.Redis) -> tuple[dict[bytes, bytes], int]:
        fields: dict[bytes, bytes] = command(node, "HGETALL", key)
        return fields, int(command(node, "PTTL", key))

    fields, ttl = on_owner(parse_url(resolve_url(args)), key, read)
    if not fields or b"@d" in fields:
        print(f"no session {public_id}" + (" (revoked)" if fields else ""))
        return 1
    shown = _describe(public_id, fields, ttl, values=args.values)
    print(json.dumps(shown, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in shown.items()))
    return 0


def _describe(public_id: str, fields: dict[bytes, bytes], ttl: int, *, values: bool) -> dict[str, Any]:
    row = row_of(public_id, [fields.get(name.encode()) for name in META], ttl)
    data = {name.decode()[1:]: raw for name, raw in fields.items() if name.startswith(b".")}
    shown: dict[str, Any] = {
        "public_id": row.public_id,
        "user": row.user,
        "created": _when(row.created_ms),
        "last_seen": _when(row.last_seen_ms),
        "expires": _when(row.expires_ms),
        "ttl": _duration(row.ttl_ms),
        "version": int(fields.get(b"@v", b"0")),
        "fields": {name: f"{len(raw)} bytes" for name, raw in sorted(data.items())},
    }
    if values:
        shown["values"] = {name: _value(raw) for name, raw in sorted(data.items())}
    return shown


def _value(raw: bytes) -> Any:
    if raw[:1] == b"\x01":
        return "(encrypted)"
    try:
        return json.loads(raw)
    except ValueError:
        return "(undecodable)"


# -- revoke --------------------------------------------------------------------------------------


def run_revoke(args: argparse.Namespace) -> int:
    if args.public_id is None and args.user is None:
        raise CommandError("give a public id, or --user to revoke every session of a user")
    with _store(args, needs_secret=args.user is not None) as store:
        if args.public_id is None:
            count = store.revoke_user(args.user)
            print(f"revoked {count} session(s) of that user")
            return 0
        revoked = store.revoke(_public_id(args.public_id), user_id=args.user)
    print(f"revoked {args.public_id}" if revoked else f"no live session {args.public_id}")
    return 0 if revoked else 1


# -- stats ---------------------------------------------------------------------------------------


def run_stats(args: argparse.Namespace) -> int:
    summary = stats(parse_url(resolve_url(args)), args.prefix, memory_sample=args.memory_sample)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(_stats_text(summary))
    return 0


def stats(topology: Topology, prefix: str, *, memory_sample: int) -> dict[str, Any]:
    """Session count, tombstones, users, memory (measured on a sample) and TTL spread."""
    spread, per_node = Spread(), {}
    tombstones = with_user = measured = measured_bytes = 0
    for options, address in primaries(topology):
        with client(options, address, decode=False) as node:
            count = 0
            for keys in scan_keys(node, prefix):
                rows = list(_rows(node, prefix, address, keys))
                for _, _, row in rows:
                    if row.tombstone:
                        tombstones += 1
                        continue
                    count += 1
                    with_user += row.user is not None
                    spread.add(row.ttl_ms)
                take = [key for _, key, row in rows if not row.tombstone][: max(memory_sample - measured, 0)]
                measured_bytes += _memory(node, take)
                measured += len(take)
            per_node[str(address)] = count
    mean = measured_bytes / measured if measured else 0
    return {
        "sessions": spread.count,
        "with_user": with_user,
        "tombstones": tombstones,
        "per_primary": per_node,
        "memory": {
            "sampled_keys": measured,
            "mean_bytes": round(mean),
            "estimated_total_bytes": round(mean * spread.count),
        },
        "ttl": spread.summary(),
    }


def _memory(node: redis.Redis, keys: list[bytes]) -> int:
    if not keys:
        return 0
    pipe = node.pipeline(transaction=False)
    for key in keys:
        command(pipe, "MEMORY", "USAGE", key)
    return sum(int(size or 0) for size in pipe.execute())


def _stats_text(summary: dict[str, Any]) -> str:
    memory, ttl = summary["memory"], summary["ttl"]
    lines = [
        f"sessions: {summary['sessions']} ({summary['with_user']} with a user), "
        f"tombstones: {summary['tombstones']}",
        "per primary: " + ", ".join(f"{a}={n}" for a, n in summary["per_primary"].items()),
        f"memory: about {memory['estimated_total_bytes'] / 1e6:.1f} MB "
        f"({memory['mean_bytes']} bytes per session, measured on {memory['sampled_keys']})",
        f"ttl: min {ttl['min_s']} s, p50 {ttl['p50_s']} s, p90 {ttl['p90_s']} s, max {ttl['max_s']} s",
        "ttl buckets: " + ", ".join(f"{label}: {n}" for label, n in ttl["buckets"].items()),
    ]
    return "\n".join(lines)
