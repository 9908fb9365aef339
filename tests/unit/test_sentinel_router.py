"""The Sentinel router: planning, failures, the read lease, and a failover that is undone (helpers:
``_sentinel.py``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hasession._commands import Batch, Call
from hasession._exceptions import (
    FailoverInProgress,
    MasterNotFound,
    NotReplicated,
    StoreConnectionError,
    StoreError,
    StoreResponseError,
    StoreTimeout,
)
from hasession._routing import Discover, Hold, NoScript, Send, error_from_reply
from hasession._sentinel import (
    LEASE_MARGIN,
    SWITCH_SECONDS,
    Begun,
    Lost,
    MasterView,
    State,
    Switched,
    Vouch,
    discover,
    lease_until,
    vouch,
)
from hasession._sentinel_router import SentinelRouter
from hasession._topology import Address

from ._sentinel import (
    ASK,
    M1,
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
    Answers,
    named,
    run,
)

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
    known = (Address("10.0.0.1", 26379), Address("10.0.0.2", 26379))
    router = SentinelRouter(known, "mymaster")
    router.add_sentinels((Address("10.0.0.2", 26379), Address("10.0.0.3", 26379), Address("10.0.0.3", 26379)))
    assert router.sentinels == (*known, Address("10.0.0.3", 26379))


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
