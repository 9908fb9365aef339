"""The chaos checker on synthetic histories: each kind of violation is caught, each allowance is precise."""

from __future__ import annotations

from typing import Any

import pytest

from hasession.testing.chaos import Checker, FaultEvent, FaultRecord, Op

OWNERS = ["owner-0", "owner-1"]


def op(start: float, stream: str = "a", *, user: int = 0, **fields: Any) -> Op:
    """A request of ``user`` from ``start`` to ``start + 0.1``; by default it saw the session and saved."""
    values: dict[str, Any] = {"driver": "sync", "outcome": "ok", "owner": OWNERS[user], "count": 0, "b": 0}
    values.update(fields)
    return Op(user=user, stream=stream, start=start, end=start + 0.1, **values)


def fault(kind: str, start: float, end: float, **fields: Any) -> FaultRecord:
    lane = "soft" if kind in ("slow-link", "kill-sentinel", "pause-replica") else "data"
    return FaultRecord(event=FaultEvent(at=start, kind=kind, lane=lane, **fields), start=start, end=end)


def counting(*values: int, start: float = 0.0) -> list[Op]:
    """User 0 incrementing ``count`` through ``values`` one request per second, each read seeing the last."""
    return [op(start + i, count=value - 1, wrote=value) for i, value in enumerate(values)]


def check(ops: list[Op], faults: list[FaultRecord] = (), **options: Any) -> Any:  # type: ignore[assignment]
    return Checker(owners=OWNERS, **options).check(ops, list(faults))


def kinds(verdict: Any) -> list[str]:
    return [violation.kind for violation in verdict.violations]


def test_a_clean_history_passes() -> None:
    ops = [
        op(0, count=0, b=0, wrote=1),
        op(0.05, "b", count=0, b=0, wrote=1),  # concurrent with the first: may see either value
        op(1, count=1, b=1, wrote=2),
        op(1.05, "b", count=1, b=1, wrote=2),
        op(2, count=2, b=2, wrote=3),
        op(10, "final", count=3, b=2),
    ]
    verdict = check(ops)
    assert verdict.ok, verdict.violations
    assert verdict.acked == 5


def test_an_error_outside_any_fault_is_a_violation() -> None:
    failed = op(2, outcome="error", error="StoreResponseError: unexpected ROLE reply None", owner=None)
    verdict = check([*counting(1), failed])
    assert kinds(verdict) == ["error"]
    assert "ROLE reply None" in verdict.violations[0].describe()


def test_an_error_during_a_fault_within_the_budget_is_a_violation() -> None:
    pause = fault("pause-long", 1.5, 5.0, duration=2.5, outage=4.0)
    verdict = check([op(2, outcome="error", error="StoreTimeout", owner=None)], [pause], hold_budget=10.0)
    assert kinds(verdict) == ["error"]
    assert "pause-long" in verdict.violations[0].fault


def test_an_error_is_allowed_when_the_fault_exceeds_the_hold_budget() -> None:
    pause = fault("pause-long", 1.5, 5.0, duration=2.5, outage=4.0)
    verdict = check([op(2, outcome="error", error="StoreUnavailable", owner=None)], [pause], hold_budget=3.0)
    assert verdict.ok
    assert sum(verdict.allowed.values()) == 1


def test_an_error_is_allowed_only_on_the_isolated_side_of_a_partition() -> None:
    split = fault("partition", 1.0, 8.0, duration=4.0, outage=4.0, side_users=(1,))
    side = op(2, user=1, driver="sync-side", outcome="error", error="StoreUnavailable", owner=None)
    majority = op(2, user=0, driver="sync", outcome="error", error="StoreUnavailable", owner=None)
    verdict = check([side, majority], [split])
    assert [(v.kind, v.user) for v in verdict.violations] == [("error", 0)]
    assert verdict.allowed["error on the isolated side of a partition"] == 1


def test_a_lost_session_is_a_violation_even_during_a_fault() -> None:
    ops = [*counting(1), op(2, outcome="lost", owner=None, count=None, b=None)]
    assert kinds(check(ops, [fault("kill", 1.5, 4.0, outage=4.0)])) == ["lost-session"]


def test_another_owners_data_is_a_violation() -> None:
    assert kinds(check([*counting(1), op(2, owner="owner-1", count=7)])) == ["foreign-data"]


def test_a_read_going_backwards_is_a_stale_read() -> None:
    ops = [*counting(1, 2, 3), op(3.5, count=1)]  # 3 was acknowledged at 2.1, this read began at 3.5
    verdict = check(ops)
    assert kinds(verdict) == ["stale-read"]
    assert "count=1, 2 below" in verdict.violations[0].detail


def test_a_read_concurrent_with_the_write_may_see_the_old_value() -> None:
    ops = [*counting(1, 2), op(1.05, "b", count=1, wrote=1)]  # began before the save of 2 was acknowledged
    assert check(ops).ok


def test_a_regression_of_the_concurrent_key_is_caught_too() -> None:
    ops = [op(0, "b", wrote=1), op(1, "b", b=1, wrote=2), op(2, "a", b=1, wrote=1)]
    assert kinds(check(ops)) == ["stale-read"]


def test_a_stale_read_is_reported_once_then_the_history_goes_on_from_it() -> None:
    ops = [*counting(1, 2, 3), op(3.5, count=1, wrote=2), op(4.5, count=2, wrote=3)]
    assert kinds(check(ops)) == ["stale-read"]


def test_an_acknowledged_write_missing_at_the_end_is_a_lost_write() -> None:
    ops = [*counting(1, 2, 3), op(10, "final", count=2)]
    verdict = check(ops)
    assert kinds(verdict) == ["lost-write"]


def test_an_unacknowledged_write_may_be_missing_or_present() -> None:
    failed = op(3, outcome="error", error="StoreUnavailable", count=2, wrote=3)
    window = [fault("partition", 2.5, 9.0, outage=20.0)]
    assert check([*counting(1, 2), failed, op(10, "final", count=2)], window, hold_budget=10).ok
    assert check([*counting(1, 2), failed, op(10, "final", count=3)], window, hold_budget=10).ok


def test_a_value_nobody_wrote_is_a_phantom_write() -> None:
    ops = [*counting(1, 2), op(3, count=5)]
    assert kinds(check(ops)) == ["phantom-write"]


def test_async_mode_counts_losses_after_a_kill_and_checks_nothing_else() -> None:
    ops = [*counting(1, 2, 3), op(5, count=1, wrote=2), op(10, "final", count=2)]
    kill = fault("kill", 2.5, 4.5, outage=4.0)
    verdict = check(ops, [kill], durability="async")
    assert verdict.ok
    assert verdict.async_lost == {"kill": 2}
    assert check(ops, [kill], durability="replicated").violations


def test_async_mode_loses_nothing_in_a_switchover_or_without_a_fault() -> None:
    ops = [*counting(1, 2, 3), op(5, count=1, wrote=2)]
    assert kinds(check(ops, [fault("switchover", 2.5, 4.5)], durability="async")) == ["stale-read"]
    assert kinds(check(ops, durability="async")) == ["stale-read"]


def test_async_mode_bounds_the_loss_of_raw_failovers() -> None:
    ops = [*counting(1, 2, 3, 4), op(5, count=1, wrote=2)]
    failover = [fault("sentinel-failover", 2.5, 4.5, outage=4.0)]
    within = check(ops, failover, durability="async", async_failover_loss_bound=3)
    assert within.ok and within.async_lost == {"sentinel-failover": 3}
    beyond = check(ops, failover, durability="async", async_failover_loss_bound=2)
    assert kinds(beyond) == ["async-loss-bound"]


@pytest.mark.parametrize("durability", ["async", "replicated"])
def test_foreign_data_and_lost_sessions_are_never_allowed(durability: str) -> None:
    window = [fault("kill", 0.5, 9.0, outage=30.0)]
    ops = [*counting(1), op(2, owner="owner-1"), op(3, outcome="lost", owner=None, count=None, b=None)]
    assert kinds(check(ops, window, durability=durability, hold_budget=1.0)) == [
        "foreign-data",
        "lost-session",
    ]


def test_a_read_on_the_isolated_side_may_miss_what_the_majority_side_acknowledged() -> None:
    split = fault("partition", 2.5, 9.0, duration=4.0, outage=4.0, side_users=(0,))
    majority_ack = [*counting(1, 2), op(2.6, count=2, wrote=3)]  # held, then saved on the new master
    side_read = op(3, driver="sync-side", count=2)
    verdict = check([*majority_ack, side_read], [split])
    assert verdict.ok, verdict.violations
    assert verdict.allowed["stale read on the isolated side of a partition"] == 1
    # nothing else: not a write acknowledged on its own side, not another user, not after the heal
    side_ack = [*counting(1, 2), op(2.6, driver="sync-side", count=2, wrote=3)]
    assert kinds(check([*side_ack, side_read], [split])) == ["stale-read"]
    assert kinds(check([*majority_ack, op(3, count=2)], [split])) == ["stale-read"]
    assert kinds(check([*majority_ack, op(9.5, driver="sync-side", count=2)], [split])) == ["stale-read"]
    elsewhere = fault("partition", 2.5, 9.0, duration=4.0, outage=4.0, side_users=(1,))
    assert kinds(check([*majority_ack, side_read], [elsewhere])) == ["stale-read"]


def test_an_error_is_allowed_when_a_sentinel_dies_while_the_master_is_gone() -> None:
    error = op(3, outcome="error", error="StoreUnavailable", owner=None)
    kill = fault("kill", 2.0, 20.0, outage=4.0)
    sentinel = fault("kill-sentinel", 2.5, 5.0, duration=2.5, outage=2.5)
    verdict = check([error], [kill, sentinel], hold_budget=10.0, failover_timeout=6.0)
    assert verdict.ok, verdict.violations
    assert kinds(check([error], [kill], hold_budget=10.0)) == ["error"]  # no Sentinel died
    assert kinds(check([error], [kill, sentinel], hold_budget=30.0)) == ["error"]  # the retry fits the budget
    raw = fault("sentinel-failover", 2.0, 20.0, outage=4.0)  # the old master is still there: no excuse
    assert kinds(check([error], [raw, sentinel], hold_budget=10.0)) == ["error"]


def test_a_fault_that_never_returned_is_a_violation() -> None:
    hung = FaultRecord(
        event=FaultEvent(at=40, kind="switchover", lane="data"),
        start=40,
        end=130,
        note="hung: did not return in 90s",
    )
    verdict = check([*counting(1, 2)], [hung])
    assert kinds(verdict) == ["hung-fault"]
    assert "switchover hung" in verdict.violations[0].describe()


def test_async_mode_counts_apart_what_the_isolated_side_of_a_partition_wrote() -> None:
    split = fault("partition", 2.5, 9.0, duration=4.0, outage=4.0, side_users=(0,))
    side_writes = [
        *counting(1, 2),
        op(3, driver="sync-side", count=2, wrote=3),
        op(4, driver="sync-side", count=3, wrote=4),
    ]
    verdict = check([*side_writes, op(10, "final", count=2)], [split], durability="async")
    assert verdict.ok, verdict.violations
    assert verdict.async_lost == {"partition, written on the isolated side": 2}
    # a write the majority side had acknowledged before the split is a partition's loss, not the split brain's
    mixed = [*counting(1, 2, 3), op(3, driver="sync-side", count=3, wrote=4), op(10, "final", count=2)]
    assert check(mixed, [split], durability="async").async_lost == {"partition": 2}
