"""The Sentinel master tracker: its transition table, Sentinel's events, and discovery."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from hasession._commands import Batch, Call, Degraded, Flow
from hasession._exceptions import (
    FailoverInProgress,
    MasterNotFound,
    NotReplicated,
    StoreConnectionError,
    StoreError,
    StoreMisconfigured,
    StoreResponseError,
    StoreTimeout,
)
from hasession._routing import Discover, Hold, NoScript, Send, error_from_reply
from hasession._sentinel import (
    _TRANSITIONS,
    AVOID_SECONDS,
    LEASE_MARGIN,
    SWITCH_SECONDS,
    Aborted,
    Begun,
    Event,
    Found,
    Lost,
    MasterView,
    SentinelRouter,
    State,
    Switched,
    Vouch,
    discover,
    fresh_replicas,
    lease_until,
    parse_event,
    replica_read,
    transition,
    vouch,
)
from hasession._topology import Address

M1 = Address("10.0.0.1", 6379)
R1 = Address("10.0.0.2", 6380)
R2 = Address("10.0.0.3", 6381)
S1, S2, S3 = (Address(f"10.0.1.{i}", 26379) for i in (1, 2, 3))
SENTINELS = (S1, S2, S3)
NAME = "mymaster"
NOW = 1000.0

KNOWN = MasterView(state=State.KNOWN, address=M1, last=M1, since=1.0, generation=1)
UNKNOWN = MasterView(state=State.UNKNOWN, last=M1, since=2.0, generation=1)
SWITCHING = MasterView(
    state=State.SWITCHING, hint=R2, avoid=M1, avoid_until=NOW + 5, last=M1, since=3.0, generation=1
)
VIEWS = {State.KNOWN: KNOWN, State.UNKNOWN: UNKNOWN, State.SWITCHING: SWITCHING}


# -- the transition table --------------------------------------------------------------------


def test_the_table_has_a_row_for_every_state_and_event() -> None:
    events = {Lost, Begun, Switched, Aborted, Found}
    assert set(_TRANSITIONS) == {(state, event) for state in State for event in events}


def _switching(view: MasterView, old: Address, hint: Address | None) -> MasterView:
    return replace(
        view,
        state=State.SWITCHING,
        address=None,
        hint=hint,
        avoid=old,
        avoid_until=NOW + AVOID_SECONDS,
        since=NOW,
    )


def _switched(view: MasterView, old: Address | None, new: Address) -> MasterView:
    return replace(
        view,
        state=State.UNKNOWN,
        address=None,
        hint=new,
        avoid=old,
        avoid_until=NOW + AVOID_SECONDS,
        since=NOW,
    )


def _found(view: MasterView, address: Address, generation: int) -> MasterView:
    return replace(
        view, state=State.KNOWN, address=address, last=address, hint=None, since=NOW, generation=generation
    )


ROWS: list[tuple[str, MasterView, Event, MasterView]] = [
    # Lost: only the master we are using can be lost
    ("known lost", KNOWN, Lost(M1), replace(KNOWN, state=State.UNKNOWN, address=None, since=NOW)),
    ("known late error of a left master", KNOWN, Lost(R1), KNOWN),
    ("unknown lost", UNKNOWN, Lost(M1), UNKNOWN),
    ("switching lost", SWITCHING, Lost(M1), SWITCHING),
    # Begun: stop sending to the master being replaced; look at the candidate
    ("known begun", KNOWN, Begun(M1, R1), _switching(KNOWN, M1, R1)),
    ("known begun without candidate", KNOWN, Begun(M1, None), _switching(KNOWN, M1, None)),
    ("known begun for a master we left", KNOWN, Begun(R2, R1), KNOWN),
    ("unknown begun", UNKNOWN, Begun(M1, R1), _switching(UNKNOWN, M1, R1)),
    ("switching begun keeps the candidate", SWITCHING, Begun(M1, None), _switching(SWITCHING, M1, R2)),
    ("switching begun names a candidate", SWITCHING, Begun(M1, R1), _switching(SWITCHING, M1, R1)),
    # Switched: check the new master first, refuse the old one for a while
    ("known switched", KNOWN, Switched(M1, R1), _switched(KNOWN, M1, R1)),
    (
        "known already at the new master",
        replace(KNOWN, address=R1),
        Switched(M1, R1),
        replace(KNOWN, address=R1),
    ),
    ("unknown switched", UNKNOWN, Switched(M1, R1), _switched(UNKNOWN, M1, R1)),
    ("switching switched", SWITCHING, Switched(M1, R1), _switched(SWITCHING, M1, R1)),
    ("switched without old keeps the avoided", SWITCHING, Switched(None, R1), _switched(SWITCHING, M1, R1)),
    # Aborted: back to the lookup, nothing avoided any more
    (
        "switching aborted",
        SWITCHING,
        Aborted(),
        replace(SWITCHING, state=State.UNKNOWN, avoid=None, since=NOW),
    ),
    ("unknown aborted", UNKNOWN, Aborted(), replace(UNKNOWN, avoid=None, since=NOW)),
    ("known aborted", KNOWN, Aborted(), KNOWN),
    # Found: discovery's answer; the generation moves with the master
    ("unknown found same master", UNKNOWN, Found(M1), _found(UNKNOWN, M1, 1)),
    ("unknown found new master", UNKNOWN, Found(R1), _found(UNKNOWN, R1, 2)),
    ("switching found candidate", SWITCHING, Found(R2), _found(SWITCHING, R2, 2)),
    ("switching found the avoided master", SWITCHING, Found(M1), SWITCHING),
    (
        "found the avoided master after the delay",
        replace(SWITCHING, avoid_until=NOW),
        Found(M1),
        _found(replace(SWITCHING, avoid_until=NOW), M1, 1),
    ),
    ("known found same", KNOWN, Found(M1), _found(KNOWN, M1, 1)),
    ("known found other", KNOWN, Found(R1), _found(KNOWN, R1, 2)),
    ("first discovery", MasterView(), Found(M1), _found(MasterView(), M1, 1)),
]


@pytest.mark.parametrize(("before", "event", "after"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_transition(before: MasterView, event: Event, after: MasterView) -> None:
    assert transition(before, event, NOW) == after


# -- Sentinel events -------------------------------------------------------------------------

SLAVE = f"slave {R1.host}:{R1.port} {R1.host} {R1.port} @ {NAME} {M1.host} {M1.port}"
MASTER = f"master {NAME} {M1.host} {M1.port}"
OTHER_MASTER = f"master other {M1.host} {M1.port}"
OTHER_SLAVE = f"slave {R1.host}:{R1.port} {R1.host} {R1.port} @ other {M1.host} {M1.port}"

EVENTS: list[tuple[str, str, Event | None]] = [
    ("+switch-master", f"{NAME} {M1.host} {M1.port} {R1.host} {R1.port}", Switched(M1, R1)),
    ("+switch-master", f"{NAME} ::1 6379 ::2 6380", Switched(Address("::1", 6379), Address("::2", 6380))),
    ("+promoted-slave", SLAVE, Switched(M1, R1)),
    ("+selected-slave", SLAVE, Begun(M1, R1, committed=True)),
    ("+failover-state-send-slaveof-noone", SLAVE, Begun(M1, R1, committed=True)),
    ("+failover-state-wait-promotion", SLAVE, Begun(M1, R1, committed=True)),
    ("+odown", f"{MASTER} #quorum 2/2", Begun(M1, None)),
    ("+try-failover", MASTER, Begun(M1, None)),
    ("+elected-leader", MASTER, Begun(M1, None, committed=True)),
    ("+failover-state-select-slave", MASTER, Begun(M1, None, committed=True)),
    ("-odown", MASTER, Aborted(soft=True)),
    ("-failover-abort-not-elected", MASTER, Aborted()),
    ("-failover-abort-no-good-slave", MASTER, Aborted()),
    ("-failover-abort-slave-timeout", MASTER, Aborted()),
    # other masters' events
    ("+switch-master", f"other {M1.host} {M1.port} {R1.host} {R1.port}", None),
    ("+promoted-slave", OTHER_SLAVE, None),
    ("+selected-slave", OTHER_SLAVE, None),
    ("+odown", f"{OTHER_MASTER} #quorum 2/2", None),
    ("+try-failover", OTHER_MASTER, None),
    ("-failover-abort-not-elected", OTHER_MASTER, None),
    ("-odown", OTHER_MASTER, None),
    # events that say nothing about who the master is
    ("+sdown", MASTER, None),
    ("-sdown", MASTER, None),
    ("+sdown", SLAVE, None),
    ("+failover-end", MASTER, None),
    ("+failover-state-reconf-slaves", MASTER, None),
    ("+slave-reconf-sent", SLAVE, None),
    ("+convert-to-slave", SLAVE, None),
    ("+reboot", SLAVE, None),
    ("+sentinel", f"sentinel abc 10.0.1.4 26379 @ {NAME} {M1.host} {M1.port}", None),
    ("__sentinel__:hello", f"10.0.1.4,26379,abc,1,{NAME},{M1.host},{M1.port},1", None),
    # malformed payloads
    ("+switch-master", f"{NAME} {M1.host} {M1.port}", None),
    ("+promoted-slave", "slave x", None),
    ("+odown", "master", None),
    ("+odown", "", None),
]


@pytest.mark.parametrize(("channel", "data", "event"), EVENTS)
def test_parse_event(channel: str, data: str, event: Event | None) -> None:
    assert parse_event(channel, data, NAME) == event


# -- discovery ---------------------------------------------------------------------------------

MASTER_ROLE = [b"master", 100, []]
REPLICA_ROLE = [b"slave", b"10.0.0.1", 6379, b"connected", 100]
DOWN = StoreConnectionError("refused")
Answers = dict[tuple[Address, str], Any]


def run(flow: Flow[Any], answers: Answers) -> tuple[list[tuple[Address, tuple[Any, ...]]], Any]:
    """Drive a node-targeted flow; ``answers[(node, first arg)]`` is a reply or an error to throw.
    A node without an answer is down. A Sentinel's answer to a lookup is the address it names, or
    ``(address, config epoch)`` (epoch 0 when not given)."""
    asked: list[tuple[Address, tuple[Any, ...]]] = []
    value: Any = None
    error: StoreError | None = None
    while True:
        try:
            batch = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return asked, stop.value
        assert batch.node is not None
        assert not batch.write
        command = batch.commands[0]
        assert isinstance(command, Call)
        asked.append((batch.node, command.args))
        answer = answers.get((batch.node, str(command.args[0])), DOWN)
        if isinstance(answer, StoreError):
            value, error = None, answer
        elif len(batch.commands) == 2:  # get-master-addr-by-name, then SENTINEL MASTER
            address, epoch, *flags = answer if isinstance(answer, tuple) else (answer, 0)
            state = [b"name", NAME.encode(), b"config-epoch", str(epoch).encode()]
            state += [b"ip", address[0], b"port", address[1]] if address else []
            state += [b"flags", ",".join(["master", *flags]).encode()]
            value, error = [address, state], None
        else:
            value, error = [answer], None


def named(address: Address) -> list[bytes]:
    return [address.host.encode(), str(address.port).encode()]


ROLE = ("ROLE",)
ASK = ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME)


def test_the_hint_is_probed_first() -> None:
    view = MasterView(hint=R1)
    asked, found = run(discover(SENTINELS, NAME, view, NOW), {(R1, "ROLE"): MASTER_ROLE})
    assert asked == [(R1, ROLE)]
    assert found == (R1, -1, -1)


def test_every_sentinel_is_asked_then_role_is_checked() -> None:
    view = MasterView(hint=R1)
    answers = {(R1, "ROLE"): REPLICA_ROLE, (S2, "SENTINEL"): named(M1), (M1, "ROLE"): MASTER_ROLE}
    asked, found = run(discover(SENTINELS, NAME, view, NOW), answers)
    assert asked == [(R1, ROLE), (S1, ASK), (S2, ASK), (S3, ASK), (M1, ROLE)]
    assert found == (M1, 1, 0)


def test_a_master_that_says_replica_is_rejected() -> None:
    answers = {
        (S1, "SENTINEL"): named(M1),
        (M1, "ROLE"): REPLICA_ROLE,  # demoted, Sentinel S1 not yet updated
        (S2, "SENTINEL"): named(R1),
        (R1, "ROLE"): MASTER_ROLE,
    }
    asked, found = run(discover(SENTINELS, NAME, MasterView(), NOW), answers)
    assert asked == [(S1, ASK), (S2, ASK), (S3, ASK), (M1, ROLE), (R1, ROLE)]
    assert found == (R1, 1, 0)


def test_the_newest_configuration_epoch_wins() -> None:
    """After a partition heals, the Sentinel that was cut off with the old master still names it,
    and the old master still says master: the majority's newer epoch must win."""
    answers = {
        (S1, "SENTINEL"): (named(M1), 3),  # cut off with M1 during the failover
        (M1, "ROLE"): MASTER_ROLE,  # not demoted yet
        (S2, "SENTINEL"): (named(R1), 4),
        (S3, "SENTINEL"): (named(R1), 4),
        (R1, "ROLE"): MASTER_ROLE,
    }
    asked, found = run(discover(SENTINELS, NAME, MasterView(), NOW), answers)
    assert asked == [(S1, ASK), (S2, ASK), (S3, ASK), (R1, ROLE)]
    assert found == (R1, 1, 4)


def test_a_master_from_an_older_epoch_than_seen_is_refused() -> None:
    answers = {(S1, "SENTINEL"): (named(M1), 3), (M1, "ROLE"): MASTER_ROLE}  # only the stale one answers
    asked, found = run(discover(SENTINELS, NAME, MasterView(epoch=4, last=R1), NOW), answers)
    assert asked == [(S1, ASK), (S2, ASK), (S3, ASK)]
    assert found is None
    _, found = run(discover(SENTINELS, NAME, MasterView(epoch=3), NOW), answers)
    assert found == (M1, 0, 3)


def test_the_router_never_goes_back_to_an_older_epoch() -> None:
    router = SentinelRouter(SENTINELS, NAME)
    router.discovered((R1, 1, 4), NOW)
    router.apply(Lost(R1), NOW)
    router.discovered((M1, 0, 3), NOW)  # a lookup that only reached the stale Sentinel
    assert router.view.state is State.UNKNOWN
    router.discovered((R1, 1, 4), NOW)
    assert router.plan(Batch((), route=""), NOW) == Send(R1)


def test_a_newer_epoch_heard_by_a_watcher_sends_the_next_batch_to_discovery() -> None:
    router = SentinelRouter(SENTINELS, NAME)
    router.discovered((M1, 0, 3), NOW)
    router.heard_epoch(3, NOW)
    assert router.plan(Batch((), route=""), NOW) == Send(M1)
    router.heard_epoch(4, NOW)
    assert isinstance(router.plan(Batch((), route=""), NOW), Discover)
    assert router.stale() == (M1,)


def test_an_unreachable_master_is_rejected() -> None:
    answers = {(S1, "SENTINEL"): named(M1), (M1, "ROLE"): StoreTimeout("frozen"), (S2, "SENTINEL"): None}
    asked, found = run(discover(SENTINELS, NAME, MasterView(last=M1), NOW), answers)
    assert asked == [(S1, ASK), (S2, ASK), (S3, ASK), (M1, ROLE)]
    assert found is None  # Sentinels answered: the last-known fallback is not used


def test_the_avoided_master_is_refused_until_the_delay_ends() -> None:
    view = MasterView(avoid=M1, avoid_until=NOW + 1, hint=M1)
    answers = {
        (S1, "SENTINEL"): named(M1),  # a forced failover: the old master still says "master"
        (M1, "ROLE"): MASTER_ROLE,
        (S2, "SENTINEL"): named(R1),
        (R1, "ROLE"): MASTER_ROLE,
    }
    asked, found = run(discover(SENTINELS, NAME, view, NOW), answers)
    assert asked == [(S1, ASK), (S2, ASK), (S3, ASK), (R1, ROLE)]  # M1 not even probed
    assert found == (R1, 1, 0)
    asked, found = run(discover(SENTINELS, NAME, view, NOW + 1), answers)
    assert asked == [(M1, ROLE)]
    assert found == (M1, -1, -1)


def test_with_every_sentinel_down_the_last_master_is_used_after_role() -> None:
    asked, found = run(discover(SENTINELS, NAME, MasterView(last=M1), NOW), {(M1, "ROLE"): MASTER_ROLE})
    assert asked == [(S1, ASK), (S2, ASK), (S3, ASK), (M1, ROLE)]
    assert found == (M1, -1, -1)


@pytest.mark.parametrize("role", [REPLICA_ROLE, DOWN])
def test_the_last_master_must_still_say_master(role: Any) -> None:
    _, found = run(discover(SENTINELS, NAME, MasterView(last=M1), NOW), {(M1, "ROLE"): role})
    assert found is None


def test_the_last_master_is_not_used_while_avoided() -> None:
    view = MasterView(last=M1, avoid=M1, avoid_until=NOW + 1)
    asked, found = run(discover(SENTINELS, NAME, view, NOW), {(M1, "ROLE"): MASTER_ROLE})
    assert asked == [(S1, ASK), (S2, ASK), (S3, ASK)]
    assert found is None


def test_discovery_probes_are_short() -> None:
    batch = next(discover(SENTINELS, NAME, MasterView(), NOW))
    assert batch.timeout is not None
    assert batch.timeout <= 0.5  # a frozen node must not hold a probe for a whole socket timeout


# -- degraded reads from replicas ---------------------------------------------------------------


def _replica(address: Address, flags: str = "slave", down_ms: int = 0) -> list[bytes]:
    info = {
        "name": f"{address.host}:{address.port}",
        "ip": address.host,
        "port": address.port,
        "runid": "abc",
        "flags": flags,
        "master-link-down-time": down_ms,
        "master-link-status": "err" if down_ms else "ok",
    }
    return [str(part).encode() for item in info.items() for part in item]


def test_fresh_replicas_are_up_and_recent() -> None:
    reply = [
        _replica(R1, down_ms=1500),
        _replica(R2, flags="s_down,slave"),
        _replica(Address("a", 1), flags="slave,disconnected"),
        _replica(Address("b", 2), down_ms=2500),
        _replica(Address("c", 3), flags="o_down,slave"),
        _replica(Address("d", 4)),
    ]
    assert fresh_replicas(reply, 2.0) == [R1, Address("d", 4)]
    assert fresh_replicas(None, 2.0) == []


def test_replica_read_tries_sentinels_then_fresh_replicas() -> None:
    read = Batch((Call(("HGETALL", "k")),), route="k", write=False, degraded=True)
    answers = {
        (S2, "SENTINEL"): [_replica(R1), _replica(R2)],
        (R1, "HGETALL"): StoreTimeout("frozen"),
        (R2, "HGETALL"): [b"@v", b"1"],
    }
    asked, replies = run(replica_read(SENTINELS, NAME, read, 2.0), answers)
    assert asked == [
        (S1, ("SENTINEL", "REPLICAS", NAME)),
        (S2, ("SENTINEL", "REPLICAS", NAME)),
        (R1, ("HGETALL", "k")),
        (R2, ("HGETALL", "k")),
    ]
    assert replies == [[b"@v", b"1"]]


def test_replica_read_gives_up_without_a_fresh_replica() -> None:
    read = Batch((Call(("HGETALL", "k")),), route="k", write=False, degraded=True)
    answers = {(S1, "SENTINEL"): [_replica(R1, down_ms=60_000)]}
    _, replies = run(replica_read(SENTINELS, NAME, read, 2.0), answers)
    assert replies is None
    assert read.settle([[b"x"]]) == [Degraded([b"x"])]


# -- the router --------------------------------------------------------------------------------

GET = Batch((Call(("GET", "k")),), route="k")


def _known_router() -> SentinelRouter:
    router = SentinelRouter(SENTINELS, NAME)
    router.discovered((M1, -1, -1), NOW)
    assert router.stale() == ()
    return router


def test_an_unknown_master_is_discovered_then_used() -> None:
    router = SentinelRouter(SENTINELS, NAME)
    assert (router.settled, router.generation) == (False, 0)
    plan = router.plan(GET, NOW)
    assert isinstance(plan, Discover)
    _, found = run(plan.flow, {(S1, "SENTINEL"): named(M1), (M1, "ROLE"): MASTER_ROLE})
    router.discovered(found, NOW)
    assert router.plan(GET, NOW) == Send(M1)
    assert router.settled
    assert router.generation == 1


def test_the_answering_sentinel_moves_to_the_front() -> None:
    router = SentinelRouter(SENTINELS, NAME)
    router.discovered((M1, 2, -1), NOW)
    assert router.sentinels == (S3, S1, S2)
    router.discovered((M1, 1, -1), NOW)
    assert router.sentinels == (S1, S3, S2)
    router.discovered((M1, 0, -1), NOW)
    router.discovered((M1, -1, -1), NOW)
    assert router.sentinels == (S1, S3, S2)


def test_no_master_found_raises_master_not_found() -> None:
    router = SentinelRouter(SENTINELS, NAME)
    with pytest.raises(MasterNotFound):
        router.discovered(None, NOW)


def test_no_master_found_during_a_failover_is_a_failover_in_progress() -> None:
    router = _known_router()
    router.apply(Begun(M1, R1), NOW)
    with pytest.raises(FailoverInProgress) as info:
        router.discovered(None, NOW)
    assert not isinstance(info.value, MasterNotFound)


@pytest.mark.parametrize(
    "error",
    [StoreConnectionError("reset"), StoreTimeout("timed out"), error_from_reply("READONLY replica")],
    ids=type,
)
def test_losing_the_master_sends_the_next_batch_to_discovery(error: StoreError) -> None:
    router = _known_router()
    router.failed(M1, error, NOW)
    assert isinstance(router.plan(GET, NOW), Discover)
    assert router.stale() == (M1,)
    assert router.stale() == ()


@pytest.mark.parametrize(
    "error",
    [
        error_from_reply("BUSY Redis is busy running a script"),
        error_from_reply("NOSCRIPT No matching script"),
        StoreResponseError("ERR syntax"),
    ],
    ids=["busy", "noscript", "response"],
)
def test_errors_that_say_nothing_about_the_master_keep_it(error: StoreError) -> None:
    router = _known_router()
    router.failed(M1, error, NOW)
    assert router.plan(GET, NOW) == Send(M1)
    assert isinstance(error_from_reply("NOSCRIPT x"), NoScript)


@pytest.mark.parametrize(
    "error",
    [NotReplicated("WAIT 0 of 1"), error_from_reply("NOREPLICAS Not enough good replicas")],
    ids=["wait", "noreplicas"],
)
def test_a_master_without_its_replicas_is_looked_up_again(error: StoreError) -> None:
    """A partition or a failover it missed leaves a master without replicas: ask Sentinel again."""
    router = _known_router()
    router.failed(M1, error, NOW)
    assert isinstance(router.plan(GET, NOW), Discover)


def test_a_failover_announcement_holds_until_a_candidate_is_named() -> None:
    router = _known_router()
    router.apply(Begun(M1, None), NOW)
    assert router.stale() == (M1,)
    plan = router.plan(GET, NOW + SWITCH_SECONDS / 2)
    assert isinstance(plan, Hold)
    assert plan.seconds > 0
    assert isinstance(router.plan(GET, NOW + SWITCH_SECONDS), Discover)  # no news for too long
    router.apply(Begun(M1, R1), NOW + 2)
    plan = router.plan(GET, NOW + 2)
    assert isinstance(plan, Discover)
    asked, _ = run(plan.flow, {(R1, "ROLE"): MASTER_ROLE})
    assert asked[0] == (R1, ROLE)


def test_a_switch_drops_the_old_master_and_bumps_the_generation() -> None:
    router = _known_router()
    router.apply(Switched(M1, R1), NOW)
    assert router.stale() == (M1,)
    plan = router.plan(GET, NOW)
    assert isinstance(plan, Discover)
    _, found = run(plan.flow, {(R1, "ROLE"): MASTER_ROLE})
    router.discovered(found, NOW)
    assert router.plan(GET, NOW) == Send(R1)
    assert router.generation == 2


def test_a_stale_lookup_cannot_bring_back_the_old_master() -> None:
    router = _known_router()
    router.apply(Switched(M1, R1), NOW)
    router.discovered((M1, 0, -1), NOW + 0.1)  # a lookup that started before the switch was announced
    assert isinstance(router.plan(GET, NOW + 0.1), Discover)


def test_sentinel_peers_reads_flat_and_parsed_replies() -> None:
    from hasession._sentinel import sentinel_peers

    flat = [[b"name", b"abc", b"ip", b"10.0.0.7", b"port", b"26379", b"flags", b"sentinel"]]
    parsed = [{"name": "abc", "ip": "10.0.0.8", "port": 26380, "flags": "sentinel"}]
    assert sentinel_peers(flat) == (Address("10.0.0.7", 26379),)
    assert sentinel_peers(parsed) == (Address("10.0.0.8", 26380),)
    assert sentinel_peers(None) == ()


def test_new_sentinels_are_asked_last_and_once() -> None:
    from hasession._sentinel import SentinelRouter

    known = (Address("10.0.0.1", 26379), Address("10.0.0.2", 26379))
    router = SentinelRouter(known, "mymaster")
    router.add_sentinels((Address("10.0.0.2", 26379), Address("10.0.0.3", 26379), Address("10.0.0.3", 26379)))
    assert router.sentinels == (*known, Address("10.0.0.3", 26379))


# -- the read lease (replicated durability) -----------------------------------------------------


def _master_state(
    address: Address, *, flags: str = "master", pending_ms: int = 0, epoch: int = 0
) -> list[bytes]:
    info = {
        "name": NAME,
        "ip": address.host,
        "port": address.port,
        "flags": flags,
        "last-ping-sent": pending_ms,
        "down-after-milliseconds": 1000,
        "quorum": 2,
        "config-epoch": epoch,
    }
    return [str(part).encode() for item in info.items() for part in item]


def test_a_sentinel_vouches_until_it_could_judge_the_master_down() -> None:
    assert vouch(_master_state(M1), NOW) == Vouch(M1, 0, 2, NOW + 1.0 - LEASE_MARGIN)
    later = vouch(_master_state(M1, pending_ms=400), NOW)  # a ping has waited 400 ms already
    assert later is not None
    assert later.until == pytest.approx(NOW + 0.6 - LEASE_MARGIN)
    for flags in ("master,s_down", "master,o_down", "master,failover_in_progress"):
        judged = vouch(_master_state(M1, flags=flags), NOW)
        assert judged is not None
        assert judged.until == 0.0
    assert vouch([b"name", b"x"], NOW) is None


def _leased_router() -> SentinelRouter:
    router = SentinelRouter(SENTINELS, NAME, lease=True)
    router.discovered((M1, 0, 3), NOW)
    return router


def test_without_a_lease_the_master_is_not_used() -> None:
    router = _leased_router()
    assert isinstance(router.plan(GET, NOW), Hold)
    assert not router.vouched(S1, vouch(_master_state(M1, epoch=3), NOW), NOW)  # one of three is not enough
    assert isinstance(router.plan(GET, NOW), Hold)
    assert router.vouched(S2, vouch(_master_state(M1, epoch=3), NOW), NOW)  # a majority: renewed
    assert router.plan(GET, NOW + 0.5) == Send(M1)
    assert isinstance(router.plan(GET, NOW + 1.0), Hold)  # nobody vouched again: cut off, maybe replaced


def test_only_vouches_for_our_master_and_epoch_count() -> None:
    router = _leased_router()
    router.vouched(S1, vouch(_master_state(M1, epoch=3), NOW), NOW)
    router.vouched(S2, vouch(_master_state(R1, epoch=4), NOW), NOW)  # another master
    router.vouched(S3, vouch(_master_state(M1, epoch=2), NOW), NOW)  # an older configuration
    assert isinstance(router.plan(GET, NOW), Hold)
    router.vouched(S2, vouch(_master_state(M1, flags="master,s_down", epoch=3), NOW), NOW)
    assert isinstance(router.plan(GET, NOW), Hold)  # judged down is no vouch
    router.vouched(S2, vouch(_master_state(M1, epoch=3), NOW), NOW)
    assert router.plan(GET, NOW) == Send(M1)


def test_lease_needs_enough_sentinels_that_fewer_than_a_quorum_can_judge_down() -> None:
    view = MasterView(state=State.KNOWN, address=M1, epoch=0)
    one = Vouch(M1, 0, 1, NOW + 1)  # quorum 1: a single Sentinel may start a failover
    assert lease_until([one, one], view, 3) == 0.0
    assert lease_until([one, one, replace(one, until=NOW + 2)], view, 3) == NOW + 1
    two = Vouch(M1, 0, 2, NOW + 1)
    assert lease_until([two, replace(two, until=NOW + 3)], view, 3) == NOW + 1


# -- a failover that is undone -------------------------------------------------------------------


def test_an_undone_failover_gives_the_old_master_back() -> None:
    """The leader Sentinel died mid-way: the others never heard of its failover, name the old
    master at the same epoch, and turn the candidate back into a replica."""
    view = MasterView(state=State.SWITCHING, hint=R1, avoid=M1, avoid_until=NOW + 15, last=M1, epoch=3)
    answers = {
        (R1, "ROLE"): REPLICA_ROLE,  # the candidate, converted back
        (S2, "SENTINEL"): (named(M1), 3),
        (S3, "SENTINEL"): (named(M1), 3),
        (M1, "ROLE"): MASTER_ROLE,
    }
    asked, found = run(discover(SENTINELS, NAME, view, NOW), answers)
    assert asked == [(R1, ROLE), (S1, ASK), (S2, ASK), (S3, ASK), (M1, ROLE)]
    assert found == (M1, 1, 3, True)
    router = SentinelRouter(SENTINELS, NAME)
    router.view = view
    router.discovered(found, NOW)
    assert router.plan(GET, NOW) == Send(M1)


@pytest.mark.parametrize(
    "answers",
    [
        # the candidate is the master now: the failover goes on
        {(R1, "ROLE"): MASTER_ROLE, (S2, "SENTINEL"): (named(M1), 3), (S3, "SENTINEL"): (named(M1), 3)},
        # only one Sentinel still names the old master
        {(R1, "ROLE"): REPLICA_ROLE, (S2, "SENTINEL"): (named(M1), 3), (M1, "ROLE"): MASTER_ROLE},
        # the leader is still running the failover: the candidate is not promoted yet
        {
            (R1, "ROLE"): REPLICA_ROLE,
            (S1, "SENTINEL"): (named(M1), 3, "failover_in_progress"),
            (S2, "SENTINEL"): (named(M1), 3),
            (S3, "SENTINEL"): (named(M1), 3),
            (M1, "ROLE"): MASTER_ROLE,
        },
        # a newer epoch names another master
        {
            (R1, "ROLE"): REPLICA_ROLE,
            (S1, "SENTINEL"): (named(R2), 4),
            (S2, "SENTINEL"): (named(M1), 3),
            (S3, "SENTINEL"): (named(M1), 3),
            (M1, "ROLE"): MASTER_ROLE,
        },
    ],
    ids=["candidate-promoted", "no-majority", "failover-running", "newer-epoch"],
)
def test_the_old_master_stays_avoided_while_the_failover_may_go_on(answers: Answers) -> None:
    view = MasterView(state=State.SWITCHING, hint=R1, avoid=M1, avoid_until=NOW + 15, last=M1, epoch=3)
    _, found = run(discover(SENTINELS, NAME, view, NOW), answers)
    assert found is None or found[0] != M1


def test_an_abandoned_epoch_is_given_up_when_every_sentinel_went_back() -> None:
    """A leader promoted a replica under epoch 4 and died before its configuration spread: every
    Sentinel that answers names the old master under epoch 3, and the replica was turned back."""
    view = MasterView(state=State.UNKNOWN, last=R1, epoch=4)
    answers = {
        (S1, "SENTINEL"): (named(M1), 3),
        (S2, "SENTINEL"): (named(M1), 3),
        (R1, "ROLE"): REPLICA_ROLE,
        (M1, "ROLE"): MASTER_ROLE,
    }
    _, found = run(discover(SENTINELS, NAME, view, NOW), answers)
    assert found == (M1, 0, 3, True)
    router = SentinelRouter(SENTINELS, NAME)
    router.view = view
    router.discovered(found, NOW)
    assert router.plan(GET, NOW) == Send(M1)
    assert router.view.epoch == 3


@pytest.mark.parametrize(
    "answers",
    [
        {(S1, "SENTINEL"): (named(M1), 3)},  # one Sentinel is no majority
        {(S1, "SENTINEL"): (named(M1), 3), (S2, "SENTINEL"): (named(R1), 4)},  # not unanimous
        {(S1, "SENTINEL"): (named(M1), 3, "failover_in_progress"), (S2, "SENTINEL"): (named(M1), 3)},
    ],
    ids=["minority", "split", "failover-running"],
)
def test_an_older_epoch_is_refused_unless_every_sentinel_went_back(answers: Answers) -> None:
    answers = {**answers, (M1, "ROLE"): MASTER_ROLE}
    _, found = run(discover(SENTINELS, NAME, MasterView(state=State.UNKNOWN, last=R1, epoch=4), NOW), answers)
    assert found is None or found[0] != M1


def test_a_wait_cut_short_by_a_demotion_is_an_unknown_outcome() -> None:
    error = error_from_reply("UNBLOCKED force unblock from blocking operation, instance state changed")
    assert isinstance(error, StoreTimeout)
    router = _known_router()
    router.failed(M1, error, NOW)
    assert isinstance(router.plan(GET, NOW), Discover)


def test_when_the_sentinels_vouch_for_another_master_it_is_looked_up() -> None:
    """We moved to a candidate whose failover was then undone: the Sentinels vouch for the old
    master, never for ours; the store must not wait for a lease that cannot come."""
    router = _leased_router()
    router.vouched(S1, vouch(_master_state(R1, epoch=3), NOW), NOW)
    assert isinstance(router.plan(GET, NOW), Hold)
    assert router.vouched(S2, vouch(_master_state(R1, epoch=3), NOW), NOW)
    assert isinstance(router.plan(GET, NOW), Discover)
    assert router.stale() == (M1,)


# -- configuration faults during discovery ------------------------------------------------------

UNKNOWN = StoreResponseError("No such master with that name")  # SENTINEL MASTER <unknown name>


def test_every_answering_sentinel_not_knowing_the_name_is_a_configuration_error() -> None:
    answers = {(S1, "SENTINEL"): UNKNOWN, (S3, "SENTINEL"): UNKNOWN}  # S2 is down
    with pytest.raises(StoreMisconfigured) as caught:
        run(discover(SENTINELS, NAME, MasterView(), NOW), answers)
    assert caught.value.cause == "master_name"
    assert NAME in str(caught.value)


def test_one_sentinel_naming_a_master_keeps_it_a_failover() -> None:
    answers = {(S1, "SENTINEL"): UNKNOWN, (S2, "SENTINEL"): named(M1), (M1, "ROLE"): REPLICA_ROLE}
    _, found = run(discover(SENTINELS, NAME, MasterView(), NOW), answers)
    assert found is None  # the router raises MasterNotFound: retried


def test_no_sentinel_answering_is_not_a_configuration_error() -> None:
    _, found = run(discover(SENTINELS, NAME, MasterView(), NOW), {})
    assert found is None


def test_sentinels_refusing_our_password_fail_at_once() -> None:
    refused = StoreMisconfigured("WRONGPASS", cause="auth")
    answers = {(S1, "SENTINEL"): refused, (S2, "SENTINEL"): refused}  # S3 is down
    with pytest.raises(StoreMisconfigured) as caught:
        run(discover(SENTINELS, NAME, MasterView(), NOW), answers)
    assert caught.value is refused


def test_refusing_sentinels_still_let_the_last_master_be_used() -> None:
    refused = StoreMisconfigured("WRONGPASS", cause="auth")
    answers = {(S1, "SENTINEL"): refused, (M1, "ROLE"): MASTER_ROLE}
    _, found = run(discover(SENTINELS, NAME, MasterView(last=M1), NOW), answers)
    assert found == (M1, -1, -1)


def test_a_refusing_sentinel_is_skipped_when_another_answers() -> None:
    refused = StoreMisconfigured("WRONGPASS", cause="auth")
    answers = {(S1, "SENTINEL"): refused, (S2, "SENTINEL"): named(M1), (M1, "ROLE"): MASTER_ROLE}
    _, found = run(discover(SENTINELS, NAME, MasterView(), NOW), answers)
    assert found == (M1, 1, 0)


def test_a_master_refusing_our_password_fails_at_once() -> None:
    refused = StoreMisconfigured("WRONGPASS", cause="auth")
    answers = {(S1, "SENTINEL"): named(M1), (M1, "ROLE"): refused}
    with pytest.raises(StoreMisconfigured):
        run(discover(SENTINELS, NAME, MasterView(), NOW), answers)
