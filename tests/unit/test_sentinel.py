"""The Sentinel master tracker: its transition table, Sentinel's events, and discovery (the router:
``test_sentinel_router.py``; helpers: ``_sentinel.py``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from hasession._commands import Batch, Call, Degraded
from hasession._exceptions import (
    StoreMisconfigured,
    StoreResponseError,
    StoreTimeout,
)
from hasession._sentinel import (
    _TRANSITIONS,
    AVOID_SECONDS,
    Aborted,
    Begun,
    Event,
    Found,
    Lost,
    MasterView,
    State,
    Switched,
    discover,
    fresh_replicas,
    parse_event,
    replica_read,
    transition,
)
from hasession._topology import Address

from ._sentinel import (
    ASK,
    DOWN,
    KNOWN,
    M1,
    MASTER,
    MASTER_ROLE,
    NAME,
    NOW,
    R1,
    R2,
    REPLICA_ROLE,
    ROLE,
    S1,
    S2,
    S3,
    SENTINELS,
    SWITCHING,
    UNKNOWN,
    named,
    run,
)

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


# -- configuration faults during discovery ------------------------------------------------------

NO_SUCH_MASTER = StoreResponseError("No such master with that name")  # SENTINEL MASTER <unknown name>


def test_every_answering_sentinel_not_knowing_the_name_is_a_configuration_error() -> None:
    answers = {(S1, "SENTINEL"): NO_SUCH_MASTER, (S3, "SENTINEL"): NO_SUCH_MASTER}  # S2 is down
    with pytest.raises(StoreMisconfigured) as caught:
        run(discover(SENTINELS, NAME, MasterView(), NOW), answers)
    assert caught.value.cause == "master_name"
    assert NAME in str(caught.value)


def test_one_sentinel_naming_a_master_keeps_it_a_failover() -> None:
    answers = {(S1, "SENTINEL"): NO_SUCH_MASTER, (S2, "SENTINEL"): named(M1), (M1, "ROLE"): REPLICA_ROLE}
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
