"""Pure helpers of ``hasession sessions`` and ``stats`` (no Redis)."""

from __future__ import annotations

import fnmatch

from hasession._cli._inventory import Spread, key_pattern, public_id_of, row_of


def test_the_pattern_matches_session_keys_only() -> None:
    pattern = key_pattern("hs")
    assert fnmatch.fnmatchcase("hs:{abc}:def", pattern)
    assert not fnmatch.fnmatchcase("hs:u:{abc}", pattern)
    assert not fnmatch.fnmatchcase("hs:canary", pattern)
    assert key_pattern("a*b?[c]") == r"a\*b\?\[c\]:{*}:*"


def test_public_ids_come_from_session_keys() -> None:
    assert public_id_of("hs", "hs:{tag}:hash") == "tag.hash"
    assert public_id_of("hs", "hs:u:{x}") is None
    assert public_id_of("hs", "other:{tag}:hash") is None
    assert public_id_of("hs", "hs:{}:hash") is None


def test_rows_decode_users_but_not_encrypted_ones() -> None:
    meta = [b"1000", b"2000", b"3000", b"4", None, b'"alice"']
    row = row_of("t.h", meta, 500)
    assert (row.created_ms, row.last_seen_ms, row.expires_ms, row.ttl_ms, row.user) == (
        1000,
        2000,
        3000,
        500,
        "alice",
    )
    assert not row.tombstone
    assert row_of("t.h", [*meta[:5], b"\x01sealed"], 1).user == "(encrypted)"
    assert row_of("t.h", [None, None, None, None, b"1", None], 1).tombstone


def test_spread_of_ttls() -> None:
    spread = Spread()
    for seconds in (10, 20, 30, 7200, 90000, 40 * 86400):
        spread.add(seconds * 1000)
    summary = spread.summary()
    assert (summary["min_s"], summary["max_s"]) == (10.0, 40 * 86400.0)
    assert summary["p50_s"] == 7200.0
    assert summary["buckets"] == {"< 1 h": 3, "< 1 day": 1, "< 7 days": 1, "< 30 days": 0, ">= 30 days": 1}


def test_spread_keeps_a_bounded_sample() -> None:
    spread = Spread(sample_size=100)
    for ms in range(10_000):
        spread.add(ms)
    assert len(spread.sample) == 100
    assert spread.count == 10_000
    p50 = spread.percentile(0.5)
    assert p50 is not None and 3000 < p50 < 7000  # a uniform sample (seeded) lands near the middle
