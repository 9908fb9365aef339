"""The chaos campaign's simulated users, used for one fault at a time (as tests/failover does)."""

from __future__ import annotations

import redis

from hasession.testing.chaos import Crowd

SECRET = "chaos-users-tests-secret-0123456789"


def test_users_on_both_drivers_make_progress_unharmed(hasession_redis_url: str) -> None:
    with Crowd(hasession_redis_url, users=4, options={"secret_keys": SECRET}) as crowd:
        crowd.progress(3)
        verdict = crowd.assert_unharmed()
    assert {op.driver for op in crowd.history.ops} == {"sync", "async"}
    assert all(user.steps >= 4 for user in crowd.users)  # the first step, then three more
    assert verdict.acked >= 4 * 4 * 2  # both streams of every user
    assert verdict.ops == len([op for op in crowd.history.ops if op.stream != "final"])


def test_a_lost_session_fails_assert_unharmed(hasession_redis_url: str) -> None:
    with Crowd(hasession_redis_url, users=2, options={"secret_keys": SECRET}) as crowd:
        with crowd.fault("restart-replica-empty"), redis.Redis.from_url(hasession_redis_url) as admin:
            admin.flushall()  # every session gone: the users' next loads find none
        verdict = crowd.verdict()
    assert not verdict.ok
    assert {v.kind for v in verdict.violations} == {"lost-session"}
    assert [f.event.kind for f in crowd.history.faults] == ["restart-replica-empty"]


def test_place_chooses_where_the_sessions_live(hasession_redis_url: str) -> None:
    seen: list[tuple[int, str]] = []

    def place(index: int, public_id: str) -> bool:
        seen.append((index, public_id))
        return public_id[0] in "abcdefghijklm"  # a few of the 64 first characters: most are drawn again

    with Crowd(hasession_redis_url, users=3, options={"secret_keys": SECRET}, place=place) as crowd:
        stored = {crowd.main.sync.public_id(crowd.main.sync.load(user.cookie)) for user in crowd.users}
    assert {index for index, _ in seen} == {0, 1, 2}
    assert all(public[0] in "abcdefghijklm" for public in stored)
