"""A failover that goes on after its master came back (docs/chaos/findings.md, finding 7).

The master stalls (SIGSTOP) past ``down-after``: a quorum judges it down, a leader is elected and
promotes a replica. The master answers again before the promotion is announced: every Sentinel
publishes ``-odown``, the two that do not lead the failover still name the old master (at the old
configuration epoch) and vouch for it, and it answers ``ROLE`` master. The leader promotes the
replica anyway, so whatever the old master acknowledges meanwhile is lost. The router must not go
back to it.
"""

from __future__ import annotations

from typing import Any

from hasession._commands import Batch, Call, Flow
from hasession._exceptions import StoreConnectionError
from hasession._routing import Discover, Hold, Send
from hasession._sentinel import (
    Aborted,
    MasterView,
    State,
    discover,
    parse_event,
    vouch,
)
from hasession._sentinel_router import SentinelRouter
from hasession._topology import Address

from ._play import play

M = Address("10.0.0.1", 6379)  # the master that stalls
R = Address("10.0.0.2", 6380)  # the replica the leader promotes
S1, S2, S3 = (Address(f"10.0.1.{i}", 26379) for i in (1, 2, 3))
NAME = "mymaster"
NOW = 1000.0
GET = Batch((Call(("GET", "k")),), route="k")
MASTER_ROLE = [b"master", 100, []]

MASTER_EVENT = f"master {NAME} {M.host} {M.port}"
SLAVE_EVENT = f"slave {R.host}:{R.port} {R.host} {R.port} @ {NAME} {M.host} {M.port}"


def sentinel_master(address: Address, epoch: int, flags: str = "master") -> list[bytes]:
    """A ``SENTINEL MASTER`` reply (the fields the router reads)."""
    fields = {
        "name": NAME,
        "ip": address.host,
        "port": address.port,
        "flags": flags,
        "down-after-milliseconds": 1000,
        "last-ping-sent": 0,
        "quorum": 2,
        "config-epoch": epoch,
    }
    return [str(p).encode() for kv in fields.items() for p in kv]


#: A Sentinel's answer: the master it names (``get-master-addr-by-name``), its ``SENTINEL MASTER``.
Answers = dict[Address, tuple[Address, list[bytes]]]

#: While the leader (S1) waits for the promotion: it flags the failover; S2 and S3 never heard of it.
LEADER_WAITING: Answers = {
    S1: (M, sentinel_master(M, 1, "master,failover_in_progress")),
    S2: (M, sentinel_master(M, 1)),
    S3: (M, sentinel_master(M, 1)),
}


def run(flow: Flow[Any], sentinels: Answers, roles: dict[Address, Any]) -> Any:
    """Drive a discovery flow against the Sentinels' answers and the nodes' ``ROLE``."""

    def answer(batch: Batch) -> Any:
        node = batch.node
        if len(batch.commands) == 2 and node in sentinels:  # get-master-addr-by-name + SENTINEL MASTER
            named, reply = sentinels[node]
            return [[named.host.encode(), str(named.port).encode()], reply]
        if len(batch.commands) == 1 and node in roles:
            return [roles[node]]
        return StoreConnectionError(f"{node} is down")

    return play(flow, answer)


def stalled_router() -> SentinelRouter:
    """A replicated-durability router whose master stalled and whose failover was announced."""
    router = SentinelRouter((S1, S2, S3), NAME, lease=True)
    router.discovered((M, 0, 1), NOW)
    for channel, data in [
        ("+odown", f"{MASTER_EVENT} #quorum 2/2"),
        ("+try-failover", MASTER_EVENT),
        ("+elected-leader", MASTER_EVENT),
        ("+selected-slave", SLAVE_EVENT),
        ("+failover-state-wait-promotion", SLAVE_EVENT),
    ]:
        event = parse_event(channel, data, NAME)
        assert event is not None
        router.apply(event, NOW)
    assert router.view.state is State.SWITCHING
    return router


def test_the_master_answering_again_does_not_stop_a_failover_whose_leader_was_elected() -> None:
    router = stalled_router()
    event = parse_event("-odown", MASTER_EVENT, NAME)
    assert event == Aborted(soft=True)
    router.apply(event, NOW + 0.5)
    assert router.view.state is State.SWITCHING
    assert router.view.avoid == M


def test_the_master_answering_again_stops_a_failover_that_had_no_leader_yet() -> None:
    router = SentinelRouter((S1, S2, S3), NAME, lease=True)
    router.discovered((M, 0, 1), NOW)
    for channel in ("+odown", "+try-failover"):
        router.apply(parse_event(channel, MASTER_EVENT, NAME), NOW)  # type: ignore[arg-type]
    router.apply(Aborted(soft=True), NOW + 0.5)
    assert router.view.state is State.UNKNOWN
    assert router.view.avoid is None


def test_discovery_refuses_a_master_that_a_sentinel_is_failing_over() -> None:
    """Even one we do not avoid (a store that missed the events): the leader says so."""
    found = run(discover((S1, S2, S3), NAME, MasterView(epoch=1), NOW), LEADER_WAITING, {M: MASTER_ROLE})
    assert found is None


def test_discovery_takes_the_promoted_replica_that_the_leader_names_while_reconfiguring() -> None:
    """While it reconfigures the replicas the leader names the promoted one, and its ``SENTINEL
    MASTER`` still shows the old master being failed over: only the old one is refused."""
    sentinels = {**LEADER_WAITING, S1: (R, sentinel_master(M, 2, "master,failover_in_progress"))}
    found = run(
        discover((S1, S2, S3), NAME, MasterView(epoch=1), NOW), sentinels, {M: MASTER_ROLE, R: MASTER_ROLE}
    )
    assert found is not None and found[0] == R


def test_the_stalled_master_is_not_used_again_when_the_others_vouch_for_it() -> None:
    """The sequence of finding 7: announced failover, ``-odown``, a lookup, and two Sentinels vouching."""
    router = stalled_router()
    router.apply(parse_event("-odown", MASTER_EVENT, NAME), NOW + 0.5)  # type: ignore[arg-type]
    now = NOW + 2.0  # past SWITCH_SECONDS: the router asks the Sentinels
    plan = router.plan(GET, now)
    assert isinstance(plan, Discover)
    router.discovered(run(plan.flow, LEADER_WAITING, {M: MASTER_ROLE}) or (R, -1, -1), now)
    for sentinel, (_, reply) in LEADER_WAITING.items():
        router.vouched(sentinel, vouch(reply, now), now)
    assert router.plan(GET, now) != Send(M)


def test_a_sentinel_failing_our_master_over_ends_its_lease() -> None:
    """A store that missed the failover's events (its watchers were reconnecting) still learns it
    from the leader's ``SENTINEL MASTER``, although the two others vouch for the master."""
    router = SentinelRouter((S1, S2, S3), NAME, lease=True)
    router.discovered((M, 0, 1), NOW)
    for sentinel in (S2, S3):
        router.vouched(sentinel, vouch(sentinel_master(M, 1), NOW), NOW)
    assert router.plan(GET, NOW) == Send(M)
    assert router.vouched(S1, vouch(LEADER_WAITING[S1][1], NOW), NOW)
    assert not isinstance(router.plan(GET, NOW), Send)
    assert router.view.avoid == M
    router.vouched(S2, vouch(sentinel_master(M, 1), NOW + 0.1), NOW + 0.1)
    assert isinstance(router.plan(GET, NOW + 0.1), Hold)


def test_the_failover_stays_committed_through_a_move_to_its_candidate() -> None:
    """Finding 7's run: the store moved to the candidate (it answered ROLE master), a watcher sent it
    back to discovery (a Sentinel reported a newer epoch than the store knew), then ``-odown``: the
    old master stays avoided."""
    router = stalled_router()
    router.discovered((R, -1, -1), NOW + 0.1)  # the hint, probed first
    router.heard_epoch(2, NOW + 0.2)  # newer than the store's 1: look again
    assert router.view.state is State.UNKNOWN
    router.apply(Aborted(soft=True), NOW + 0.3)
    assert router.view.avoid == M
