"""The chaos schedule: drawn from a seed, the same seed giving the same schedule, printable and replayable."""

from __future__ import annotations

import itertools

import pytest

from hasession.testing.chaos import DATA_FAULTS, SOFT_FAULTS, Campaign, Schedule


@pytest.mark.parametrize("topology", ["sentinel", "cluster"])
def test_the_same_seed_gives_the_same_schedule(topology: str) -> None:
    first = Schedule.generate(seed=42, topology=topology, seconds=120, users=8)
    again = Schedule.generate(seed=42, topology=topology, seconds=120, users=8)
    other = Schedule.generate(seed=43, topology=topology, seconds=120, users=8)
    assert first == again
    assert first.describe() == again.describe()
    assert first.events != other.events


def test_a_schedule_survives_json() -> None:
    schedule = Schedule.generate(seed=7, seconds=200, users=12)
    assert any(event.side_users for event in schedule.events)  # a partition is part of the round trip
    assert Schedule.from_json(schedule.to_json()) == schedule


@pytest.mark.parametrize("topology", ["sentinel", "cluster"])
def test_every_fault_kind_is_drawn_in_both_lanes(topology: str) -> None:
    kinds = {
        event.kind
        for seed in range(20)
        for event in Schedule.generate(seed=seed, topology=topology, seconds=120).events
    }
    assert kinds == set(DATA_FAULTS[topology]) | set(SOFT_FAULTS[topology])


def test_events_fit_the_campaign_and_data_faults_do_not_overlap_nominally() -> None:
    for seed in range(30):
        schedule = Schedule.generate(seed=seed, seconds=60, users=8, down_after=1.0)
        assert schedule.events, "a 60 s campaign has faults"
        assert all(0 < event.at < 60 for event in schedule.events)
        data = [event for event in schedule.events if event.lane == "data"]
        for before, after in itertools.pairwise(data):
            assert after.at >= before.at + before.duration
        assert {e.lane for e in schedule.events} == {"data", "soft"}


def test_stalls_are_sized_by_down_after_and_partitions_strand_some_users() -> None:
    events = [e for seed in range(30) for e in Schedule.generate(seed=seed, seconds=120, users=8).events]
    short = [e.duration for e in events if e.kind == "pause-short"]
    long = [e.duration for e in events if e.kind == "pause-long"]
    assert short and max(short) < 1.0 < min(long)
    partitions = [e for e in events if e.kind == "partition"]
    assert partitions and all(e.side_users and set(e.side_users) <= set(range(8)) for e in partitions)
    slow = [e for e in events if e.kind == "slow-link"]
    assert slow and all(0 < e.latency < 1.0 for e in slow)  # below the store's 1 s socket timeout


def test_the_description_names_the_seed_and_every_event() -> None:
    schedule = Schedule.generate(seed=5, seconds=60)
    text = schedule.describe()
    assert "seed=5" in text
    assert len(text.splitlines()) == len(schedule.events) + 1


def test_an_unknown_topology_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown topology"):
        Schedule.generate(seed=1, topology="standalone")


def test_a_campaign_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="users"):
        Campaign(users=0)
    with pytest.raises(ValueError, match="durability"):
        Campaign(durability="eventual")  # type: ignore[arg-type]
    assert Campaign(seed=3, seconds=50).make_schedule() == Schedule.generate(seed=3, seconds=50, users=8)
