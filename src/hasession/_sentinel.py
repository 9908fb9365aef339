"""Tracking the master of a Sentinel-managed group: a pure state machine, its events, discovery and the
read lease. The router that applies them to every batch: :mod:`hasession._sentinel_router`.

States and the rules that move between them (one line per transition in ``_TRANSITIONS``):

    KNOWN(addr)  -- Lost(addr)        --> UNKNOWN    a refused/reset/timed-out connection or
                                                     READONLY/LOADING on it: ask Sentinel again
                                                     on the next try, never blindly reconnect to
                                                     the same host (the redis-py #3874 bug).
    any          -- Begun(old, cand)  --> SWITCHING  Sentinel announced a failover of our master
                                                     (+odown, +try-failover, +selected-slave, ...):
                                                     stop sending to a master that is being
                                                     replaced; probe the candidate's ROLE instead.
                                                     Ignored when KNOWN(addr) and addr != old.
    any          -- Switched(old,new) --> UNKNOWN    +promoted-slave / +switch-master: check ROLE on
                                                     ``new`` first; refuse ``old`` for AVOID_SECONDS
                                                     (after a forced failover both say "master").
    SWITCHING    -- Aborted           --> UNKNOWN    -failover-abort-*: back to the lookup. ``-odown`` too,
                                                     unless a leader was elected: its failover goes on
                                                     when the master comes back (finding 7).
    UNKNOWN/SW.  -- Found(addr, ep)   --> KNOWN      discovery: Sentinel's answer, then ROLE=master;
                                                     ignored for an address being avoided (a lookup
                                                     that started before the switch was announced),
                                                     and for a configuration epoch older than the
                                                     newest one seen: never go back to an older master.
                                                     An avoided master is taken back only when the
                                                     failover was undone: a majority of Sentinels name
                                                     it at the newest epoch, and the candidate is no
                                                     master (a leader that died mid-way).
    SWITCHING    -- (time)            --> (lookup)   after SWITCH_SECONDS without a candidate: ask the
                                                     Sentinels (the leader may have died mid-way).

Discovery never takes a master that a Sentinel that answers is failing over (``failover_in_progress``
in its ``SENTINEL MASTER``): the others keep naming it, and it keeps answering ``ROLE`` master, until the
leader's configuration reaches them (docs/chaos/findings.md, finding 7).

Discovery follows Redis's Sentinel client guidelines: the candidate first; then every Sentinel is
asked, in order, for ``get-master-addr-by-name`` and, in the same round trip, ``SENTINEL MASTER``
for the configuration epoch of its answer. The answers are tried newest epoch first, each only
after ``ROLE`` on it says master (the Sentinel that named it moves to the front). Asking every
Sentinel matters after a partition heals: the Sentinel that was cut off with the old master still
names it, and the old master still says master until it is demoted, but a newer epoch wins. When
no Sentinel answers, the last known master is used after its ``ROLE`` says master.

The read lease (``replicated`` durability). A process cut off with the old master by a partition
hears nothing from the Sentinels on the other side, and the old master keeps answering until it is
demoted: it would serve sessions that the other side has since changed. So in ``replicated``
durability a master is only used under a lease. The watchers ask every Sentinel for its view of the
master (``SENTINEL MASTER``) several times a second; a Sentinel that names our master, not flagged
down, with no ping outstanding for ``x`` ms, cannot judge it down before ``down-after - x`` ms from
when we asked. While enough Sentinels vouch for it that fewer than ``quorum`` could have judged it
down, no failover can have started: the master is the only one. When the lease lapses (this side
was cut off), operations are held, and fail closed past the hold budget. A failover that started
while the lease was lapsed (the master stalled) goes on after the master answers again, and the
Sentinels that do not lead it vouch for the old master until the leader's configuration reaches
them: so one Sentinel that reports the master ``o_down`` or ``failover_in_progress`` ends the
lease (the failover is taken as begun), and the master stays refused while it does.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ._commands import Batch, Call, Flow, Reply, text
from ._exceptions import (
    StoreError,
    StoreMisconfigured,
)
from ._routing import role_of
from ._topology import Address

__all__ = [
    "MasterView",
    "Vouch",
    "config_epoch",
    "discover",
    "lease_until",
    "parse_event",
    "transition",
    "vouch",
]

#: How long a failover may go without naming a candidate before the Sentinels are asked again
#: (a leader names one within tens of milliseconds of starting; one that died never will).
SWITCH_SECONDS = 1.0
AVOID_SECONDS = 15.0
PROBE_SECONDS = 0.02
#: Read timeout of discovery probes (Sentinel docs: "a few hundreds of milliseconds").
PROBE_TIMEOUT = 0.25


class State(enum.Enum):
    UNKNOWN = "unknown"
    KNOWN = "known"
    SWITCHING = "switching"


@dataclass(frozen=True, slots=True)
class Lost:
    address: Address


@dataclass(frozen=True, slots=True)
class Begun:
    old: Address
    candidate: Address | None
    #: A leader was elected (``+elected-leader`` and later steps): the failover goes on even if the
    #: master comes back (``-odown``); only ``-failover-abort-*`` or its end stop it.
    committed: bool = False


@dataclass(frozen=True, slots=True)
class Switched:
    old: Address | None
    new: Address


@dataclass(frozen=True, slots=True)
class Aborted:
    #: ``-odown``: the master is back, which stops a failover only if no leader was elected yet.
    soft: bool = False


@dataclass(frozen=True, slots=True)
class Found:
    address: Address
    #: The Sentinel configuration epoch that named it (-1: not named by a Sentinel's answer).
    epoch: int = -1
    #: The Sentinels went back on purpose: a failover was undone (a master we avoid is taken
    #: back), or the newest epoch we saw was abandoned (an older one is taken).
    reverted: bool = False


Event = Lost | Begun | Switched | Aborted | Found


@dataclass(frozen=True, slots=True)
class MasterView:
    """What we believe about the master, as of ``since`` (monotonic seconds)."""

    state: State = State.UNKNOWN
    address: Address | None = None
    #: Where to look first (the promoted replica named by an event).
    hint: Address | None = None
    #: A master being replaced: not accepted until ``avoid_until``.
    avoid: Address | None = None
    avoid_until: float = 0.0
    #: The last master that was confirmed, kept for the all-Sentinels-down fallback.
    last: Address | None = None
    since: float = 0.0
    #: Bumped on every change of master; drivers drop connections to old masters.
    generation: int = 0
    #: The newest Sentinel configuration epoch seen: a master named under an older one is refused.
    epoch: int = -1
    #: A leader Sentinel is running the failover we are in (see :attr:`Begun.committed`).
    committed: bool = False


@dataclass(frozen=True, slots=True)
class Vouch:
    """One Sentinel's view of the master, as of a ``SENTINEL MASTER`` reply."""

    address: Address
    epoch: int
    quorum: int
    #: Monotonic time until which this Sentinel cannot have judged the master down (0: it does).
    until: float
    #: The Sentinel is failing the master over, or a quorum judged it down (``o_down``).
    failing: bool = False


#: Seconds taken off every lease for the time a reply takes to reach us and be read.
LEASE_MARGIN = 0.05
#: How often a watcher asks its Sentinel (a lease lasts ``down-after-milliseconds``).
LEASE_POLL = 0.1


def vouch(reply: object, asked_at: float) -> Vouch | None:
    """What a ``SENTINEL MASTER`` reply, asked for at ``asked_at``, says for the lease."""
    fields = _fields(reply)
    try:
        address = Address(fields["ip"], int(fields["port"]))
        down_after, pending = int(fields["down-after-milliseconds"]), int(fields.get("last-ping-sent", 0))
        quorum, epoch = int(fields["quorum"]), int(fields.get("config-epoch", -1))
    except (KeyError, ValueError):
        return None
    flags = set(fields.get("flags", "").split(","))
    healthy = not flags & {"s_down", "o_down", "failover_in_progress", "disconnected"}
    until = asked_at + (down_after - pending) / 1000 - LEASE_MARGIN if healthy else 0.0
    return Vouch(address, epoch, quorum, until, failing=bool(flags & {"o_down", "failover_in_progress"}))


def lease_until(vouches: list[Vouch], view: MasterView, sentinels: int) -> float:
    """Until when ``view``'s master is the only one: enough Sentinels vouch for it that fewer
    than a quorum can have judged it down (and a majority, which any failover needs)."""
    mine = sorted(
        (v.until for v in vouches if v.address == view.address and v.epoch >= view.epoch), reverse=True
    )
    quorum = max((v.quorum for v in vouches), default=sentinels)
    needed = max(sentinels // 2 + 1, sentinels - quorum + 1)
    return mine[needed - 1] if len(mine) >= needed else 0.0


def _lost(v: MasterView, e: Lost, now: float) -> MasterView:
    if v.state is State.KNOWN and v.address != e.address:
        return v  # a late error from a master we already left
    return replace(v, state=State.UNKNOWN, address=None, since=now)


def _begun(v: MasterView, e: Begun, now: float) -> MasterView:
    if v.state is State.KNOWN and v.address != e.old:
        return v  # news about a master we already left (Sentinel repeats +odown)
    hint = e.candidate or v.hint
    return replace(
        v,
        state=State.SWITCHING,
        address=None,
        hint=hint,
        avoid=e.old,
        avoid_until=now + AVOID_SECONDS,
        since=now,
        committed=e.committed or (v.committed and v.avoid == e.old),
    )


def _switched(v: MasterView, e: Switched, now: float) -> MasterView:
    if v.state is State.KNOWN and v.address == e.new:
        return v
    avoid = e.old if e.old is not None else v.avoid
    return replace(
        v,
        state=State.UNKNOWN,
        address=None,
        hint=e.new,
        avoid=avoid,
        avoid_until=now + AVOID_SECONDS,
        since=now,
        committed=False,
    )


def _aborted(v: MasterView, e: Aborted, now: float) -> MasterView:
    if e.soft and v.committed:
        return v  # the master came back, but a leader is already replacing it
    return replace(v, state=State.UNKNOWN, address=None, avoid=None, since=now, committed=False)


def _found(v: MasterView, e: Found, now: float) -> MasterView:
    if e.address == v.avoid and now < v.avoid_until and not e.reverted:
        return v  # a lookup that began before Sentinel announced the switch: stale
    if e.epoch < v.epoch and e.epoch >= 0 and not e.reverted:
        return v  # named by a Sentinel that has not heard of a newer failover yet
    moved = e.address != v.last
    return replace(
        v,
        state=State.KNOWN,
        address=e.address,
        last=e.address,
        hint=None,
        avoid=None if e.reverted else v.avoid,
        since=now,
        generation=v.generation + moved,
        epoch=e.epoch if e.reverted else max(v.epoch, e.epoch),
        committed=v.committed and not e.reverted,  # kept with the master we avoid
    )


def _ignore(v: MasterView, e: Event, now: float) -> MasterView:
    return v


# Each handler takes the event type its row names; the table is the only dispatch.
_Handler = Callable[[MasterView, Any, float], MasterView]
_TRANSITIONS: dict[tuple[State, type], _Handler] = {
    (State.KNOWN, Lost): _lost,
    (State.UNKNOWN, Lost): _ignore,
    (State.SWITCHING, Lost): _ignore,
    **{(s, Begun): _begun for s in State},
    **{(s, Switched): _switched for s in State},
    (State.SWITCHING, Aborted): _aborted,
    (State.UNKNOWN, Aborted): _aborted,
    (State.KNOWN, Aborted): _ignore,
    (State.UNKNOWN, Found): _found,
    (State.SWITCHING, Found): _found,
    (State.KNOWN, Found): _found,
}


def transition(view: MasterView, event: Event, now: float) -> MasterView:
    """The view after ``event``."""
    return _TRANSITIONS[(view.state, type(event))](view, event, now)


# -- Sentinel pub/sub events ------------------------------------------------------------------

#: Events after which a leader runs the failover to its end (or its ``-failover-abort-*``).
_COMMITTED = {
    "+elected-leader",
    "+failover-state-select-slave",
    "+selected-slave",
    "+failover-state-send-slaveof-noone",
    "+failover-state-wait-promotion",
}
_BEGUN = {"+odown", "+try-failover", *_COMMITTED}
_ABORTED = {
    "-odown",
    "-failover-abort-not-elected",
    "-failover-abort-no-good-slave",
    "-failover-abort-slave-timeout",
}


def parse_event(channel: str, data: str, master_name: str) -> Event | None:
    """The event a Sentinel message means for ``master_name``, or ``None``.

    Payloads: ``master <name> <ip> <port> ...``, ``slave <n> <ip> <port> @ <name> <ip> <port>``
    and, for ``+switch-master``, ``<name> <old ip> <old port> <new ip> <new port>``.
    """
    words = data.split()
    if channel == "+switch-master":
        if len(words) == 5 and words[0] == master_name:
            return Switched(_addr(words[1], words[2]), _addr(words[3], words[4]))
        return None
    if words[:1] == ["slave"] and len(words) >= 8 and words[5] == master_name:
        replica, master = _addr(words[2], words[3]), _addr(words[6], words[7])
        if channel == "+promoted-slave":
            return Switched(master, replica)
        return Begun(master, replica, channel in _COMMITTED) if channel in _BEGUN else None
    if words[:2] == ["master", master_name] and len(words) >= 4:
        if channel in _BEGUN:
            return Begun(_addr(words[2], words[3]), None, channel in _COMMITTED)
        if channel in _ABORTED:
            return Aborted(soft=channel == "-odown")
    return None


def _addr(host: str, port: str) -> Address:
    return Address(host, int(port))


# -- discovery ----------------------------------------------------------------------------------


def _ask(node: Address, *commands: tuple[str, ...]) -> Batch:
    return Batch(tuple(Call(c) for c in commands), route="", write=False, node=node, timeout=PROBE_TIMEOUT)


def _is_master(address: Address) -> Flow[bool]:
    try:
        (reply,) = yield _ask(address, ("ROLE",))
        return role_of(reply) == "master"
    except StoreMisconfigured:
        raise  # a wrong password or certificate: no failover explains it
    except StoreError:
        return False


#: A Sentinel's answer: the master it names, its configuration epoch, and the Sentinel's index.
Named = tuple[Address, int, int]
#: What discovery found: the master, the index of the Sentinel that named it (-1: none), the epoch
#: (-1: none), and a fourth element ``True`` when it is an avoided master taken back on purpose.
Discovered = tuple[Address, int, int] | tuple[Address, int, int, bool]


def _ask_sentinels(
    sentinels: tuple[Address, ...], name: str
) -> Flow[tuple[list[Named], set[Address], StoreMisconfigured | None]]:
    """Every Sentinel's answer, newest configuration epoch first (then in the Sentinels' order),
    the masters that one of them is failing over, and a configuration fault to raise if no master
    turns up: every Sentinel that answered does not know ``name`` (Sentinel says so for nothing
    else, failover or not), or none answered and one refused our TLS or password."""
    named: list[Named] = []
    failing: set[Address] = set()
    answered = False
    unknown = 0
    refused: StoreMisconfigured | None = None
    for i, sentinel in enumerate(sentinels):
        lookup = ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
        try:
            address, master = yield _ask(sentinel, lookup, ("SENTINEL", "MASTER", name))
            answered = True
            if address:
                named.append((_addr(*(text(p) for p in address)), config_epoch(master), i))  # type: ignore[attr-defined]
            failing.update(_failing(master))
        except StoreMisconfigured as exc:
            refused = refused or exc
        except StoreError as exc:  # down, frozen, or does not know the name
            unknown += _UNKNOWN_NAME in str(exc)
        except (TypeError, ValueError):
            continue
    fault = None
    if unknown and not answered:
        fault = StoreMisconfigured(
            f"no Sentinel that answered monitors a master named {name!r}; check the master name",
            cause="master_name",
        )
    elif refused is not None and not answered:
        fault = refused
    return sorted(named, key=lambda n: (-n[1], n[2])), failing, fault


def _failing(reply: object) -> tuple[Address, ...]:
    """The master a ``SENTINEL MASTER`` reply shows being failed over, if any. Its ``ip`` and
    ``port`` are the old master's until the failover ends (while the leader reconfigures the
    replicas, ``get-master-addr-by-name`` already names the promoted one)."""
    fields = _fields(reply)
    if "failover_in_progress" not in fields.get("flags", "").split(","):
        return ()
    try:
        return (Address(fields["ip"], int(fields["port"])),)
    except (KeyError, ValueError):
        return ()


#: Sentinel's error for ``SENTINEL MASTER <name>`` when it monitors no such master.
_UNKNOWN_NAME = "No such master with that name"


def config_epoch(reply: object) -> int:
    """The ``config-epoch`` in a ``SENTINEL MASTER`` reply."""
    return int(_fields(reply).get("config-epoch", -1))


def _fields(reply: object) -> dict[str, str]:
    """A ``SENTINEL MASTER`` reply (a flat field/value list, or redis-py's dict) as a dict."""
    if isinstance(reply, dict):
        return {text(k): text(v) for k, v in reply.items()}
    items = [text(p) for p in reply] if isinstance(reply, list) else []
    return dict(zip(items[::2], items[1::2], strict=False))


def discover(
    sentinels: tuple[Address, ...], name: str, view: MasterView, now: float
) -> Flow[Discovered | None]:
    """Find the master (see :data:`Discovered`).

    Raises :class:`StoreMisconfigured` when no master turns up and the Sentinels refused the
    master name or our credentials (see :func:`_ask_sentinels`).
    """
    avoid = view.avoid if now < view.avoid_until else None
    if view.hint is not None and view.hint != avoid and (yield from _is_master(view.hint)):
        return view.hint, -1, -1
    named, failing, fault = yield from _ask_sentinels(sentinels, name)
    # a master being failed over is never taken: the Sentinels that are not leading the failover
    # name it, and it answers ROLE master, until the leader's new configuration reaches them
    tried: set[Address] = set(failing)
    abandoned = not failing and _abandoned(named, view.epoch, len(sentinels))
    reverted = abandoned or (not failing and _reverted(named, avoid, len(sentinels)))
    floor = named[0][1] if abandoned else view.epoch
    for address, epoch, index in named:
        if (address == avoid and not reverted) or address in tried or epoch < floor:
            continue
        tried.add(address)
        if (yield from _is_master(address)):
            # a fourth element tells the router that the Sentinels went back on purpose
            back = address == avoid or epoch < view.epoch
            return (address, index, epoch, True) if back else (address, index, epoch)
    if not named and view.last is not None and view.last != avoid and (yield from _is_master(view.last)):
        return view.last, -1, -1
    if fault is not None:
        raise fault
    return None


def _abandoned(named: list[Named], epoch: int, sentinels: int) -> bool:
    """Whether the newest epoch we saw was abandoned: every Sentinel that answers, a majority of
    them, names one master at an older epoch (and none runs a failover, checked by the caller).
    A leader that promoted a replica and died before its configuration spread leaves that: its
    epoch never reaches the others, and the candidate is turned back into a replica."""
    if len(named) <= sentinels // 2 or named[0][1] >= epoch:
        return False
    return len({(address, e) for address, e, _ in named}) == 1


def _reverted(named: list[Named], avoid: Address | None, sentinels: int) -> bool:
    """Whether a failover we heard begin was undone: a majority of the Sentinels names the old
    master at the newest epoch any of them reports, and (checked by the caller) no Sentinel that
    answers is running a failover and the candidate, if one was named, is no master. A leader
    Sentinel that dies mid-way leaves exactly that: the others never heard of its failover, and
    turn the candidate back into a replica. While the leader runs it, its ``SENTINEL MASTER``
    flags say ``failover_in_progress``; once it is done, it names the new master at a newer
    epoch."""
    if avoid is None or not named:
        return False
    top = named[0][1]
    return sum(1 for address, epoch, _ in named if address == avoid and epoch == top) > sentinels // 2


def replica_read(
    sentinels: tuple[Address, ...], name: str, batch: Batch, max_staleness: float
) -> Flow[list[Reply] | None]:
    """Send a read-only ``batch`` to a replica whose master link is down at most ``max_staleness`` s."""
    for sentinel in sentinels:
        try:
            (reply,) = yield _ask(sentinel, ("SENTINEL", "REPLICAS", name))
        except StoreError:
            continue
        for replica in fresh_replicas(reply, max_staleness):
            try:
                return (yield replace(batch, node=replica, timeout=PROBE_TIMEOUT))
            except StoreError:
                continue
        return None
    return None


def fresh_replicas(reply: object, max_staleness: float) -> list[Address]:
    """Replicas in a ``SENTINEL REPLICAS`` reply that are up and at most ``max_staleness`` s behind."""
    found = []
    for entry in reply if isinstance(reply, list) else ():
        items = [text(p) for p in entry]
        info = dict(zip(items[::2], items[1::2], strict=True))
        flags = set(info.get("flags", "").split(","))
        lag_ms = int(info.get("master-link-down-time", "0"))
        if not flags & {"s_down", "o_down", "disconnected"} and lag_ms <= max_staleness * 1000:
            found.append(Address(info["ip"], int(info["port"])))
    return found


def sentinel_peers(reply: object) -> tuple[Address, ...]:
    """The Sentinels in a ``SENTINEL SENTINELS`` reply (flat key/value lists, or redis-py's dicts)."""
    found = []
    for entry in reply if isinstance(reply, list) else ():
        if isinstance(entry, dict):
            info = {text(k): text(v) for k, v in entry.items()}
        else:
            items = [text(p) for p in entry]
            info = dict(zip(items[::2], items[1::2], strict=True))
        if "ip" in info and "port" in info:
            found.append(Address(info["ip"], int(info["port"])))
    return tuple(found)
