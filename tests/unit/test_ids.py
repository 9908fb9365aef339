"""IdCodec / SessionId: 256-bit ids, signed cookies with key rotation, keyed at-rest hashes."""

from __future__ import annotations

import base64
import string
from collections.abc import Callable

import pytest
from redis.crc import key_slot

from hasession import _ids
from hasession._config import Secret
from hasession._ids import MAX_COOKIE_CHARS, SECRET_BYTES, TAG_BYTES, IdCodec, SessionId
from hasession._keys import KeySchema

A, B, C, OTHER = (Secret(ch * 32) for ch in "abcx")
B64URL = set(string.ascii_letters + string.digits + "-_")
TAG_CHARS = 8  # 6 bytes, unpadded base64url


def raw_of(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def secret_part(sid: SessionId) -> str:
    return sid.value[TAG_CHARS:]


@pytest.fixture
def codec() -> IdCodec:
    return IdCodec([A])


# -- the id ----------------------------------------------------------------------------------


def test_an_id_is_a_tag_and_a_256_bit_secret(codec: IdCodec) -> None:
    sid = codec.new()
    raw = raw_of(sid.value)
    assert SECRET_BYTES * 8 == 256
    assert len(raw) == TAG_BYTES + SECRET_BYTES
    assert raw[:TAG_BYTES] == raw_of(sid.tag)
    assert len(sid.tag) == TAG_CHARS
    assert sid.value.startswith(sid.tag)
    assert set(sid.value) <= B64URL
    assert set(sid.hashed) <= B64URL


def test_ids_are_unique_in_every_part(codec: IdCodec) -> None:
    sids = [codec.new() for _ in range(200)]
    assert len({s.value for s in sids}) == len({secret_part(s) for s in sids}) == 200
    assert len({s.hashed for s in sids}) == 200
    assert len({s.tag for s in sids}) > 190  # 48 random bits: a clash among 200 is ~1e-10


def test_the_cookie_is_value_dot_signature_in_url_safe_characters(codec: IdCodec) -> None:
    sid = codec.new()
    cookie = codec.sign(sid)
    value, dot, signature = cookie.partition(".")
    assert (value, dot) == (sid.value, ".")
    assert len(cookie) == MAX_COOKIE_CHARS
    assert set(signature) <= B64URL
    assert len(raw_of(signature)) == 16


def test_verify_returns_the_signed_id(codec: IdCodec) -> None:
    sid = codec.new()
    assert codec.verify(codec.sign(sid)) == sid


# -- key rotation ----------------------------------------------------------------------------


@pytest.mark.parametrize("signer", [A, B, C])
def test_every_key_of_the_rotation_list_verifies(signer: Secret) -> None:
    sid = IdCodec([A]).new()
    cookie = IdCodec([signer]).sign(sid)
    found = IdCodec([A, B, C]).verify(cookie)
    assert found is not None
    assert found.value == sid.value


def test_only_the_newest_key_signs() -> None:
    sid = IdCodec([A]).new()
    cookie = IdCodec([A, B, C]).sign(sid)
    assert cookie == IdCodec([C]).sign(sid)
    assert IdCodec([C]).verify(cookie) is not None
    assert IdCodec([A]).verify(cookie) is None
    assert IdCodec([A, B]).verify(cookie) is None


def test_a_key_outside_the_list_does_not_verify() -> None:
    sid = IdCodec([A]).new()
    assert IdCodec([A, B, C]).verify(IdCodec([OTHER]).sign(sid)) is None


def test_adding_keys_keeps_where_a_session_is_stored() -> None:
    old = IdCodec([A])
    sid = old.new()
    rotated = IdCodec([A, B]).verify(old.sign(sid))
    assert rotated == sid  # same hashed id: same Redis key after the rotation
    assert IdCodec([A, B]).hash_user("alice") == old.hash_user("alice")


# -- rejected cookies ------------------------------------------------------------------------


def _flip(text: str, index: int) -> str:
    return text[:index] + ("B" if text[index] == "A" else "A") + text[index + 1 :]


SIG = MAX_COOKIE_CHARS - 22  # index of the first signature character

BAD_COOKIES: dict[str, Callable[[str, str], str | None]] = {
    "none": lambda c, other: None,
    "empty": lambda c, other: "",
    "garbage": lambda c, other: "hello",
    "truncated": lambda c, other: c[:-1],
    "value only": lambda c, other: c.partition(".")[0],
    "oversized": lambda c, other: c + "A",
    "huge": lambda c, other: c * 200,
    "flipped id": lambda c, other: _flip(c, 20),
    "flipped tag": lambda c, other: _flip(c, 0),
    "flipped signature": lambda c, other: _flip(c, SIG),
    "signature of another id": lambda c, other: c.partition(".")[0] + "." + other.partition(".")[2],
    "id of another cookie": lambda c, other: other.partition(".")[0] + "." + c.partition(".")[2],
    "no dot": lambda c, other: c.replace(".", "A"),
    "dot moved": lambda c, other: c.replace(".", "")[:50] + "." + c.replace(".", "")[50:],
    "non-ascii in id": lambda c, other: "é" + c[1:],
    "non-ascii in signature": lambda c, other: c[:-1] + "é",
    "non-ascii separator": lambda c, other: c.replace(".", "·"),
    "padding": lambda c, other: c[:-2] + "==",
    "whitespace": lambda c, other: " " + c[:-1],
    "newline": lambda c, other: c[:10] + "\n" + c[11:],
    "standard base64 characters": lambda c, other: "+/" + c[2:],
    "nul": lambda c, other: c[:-1] + "\0",
}


@pytest.mark.parametrize("make", BAD_COOKIES.values(), ids=BAD_COOKIES.keys())
def test_forged_or_malformed_cookies_are_rejected(
    codec: IdCodec, make: Callable[[str, str], str | None]
) -> None:
    cookie = make(codec.sign(codec.new()), codec.sign(codec.new()))
    assert codec.verify(cookie) is None


def test_only_the_exact_cookie_string_verifies(codec: IdCodec) -> None:
    cookie = codec.sign(codec.new())
    variants = {cookie[:-1] + ch for ch in B64URL} - {cookie}
    assert [v for v in variants if codec.verify(v) is not None] == []


# -- verified cookies, remembered ---------------------------------------------------------------


@pytest.fixture
def macs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The values HMAC'd from now on (signatures and at-rest hashes)."""
    seen: list[str] = []
    real = _ids._mac

    def counting(prepared: object, value: str) -> bytes:
        seen.append(value)
        return real(prepared, value)  # type: ignore[arg-type]

    monkeypatch.setattr(_ids, "_mac", counting)
    return seen


def test_a_verified_cookie_is_remembered_and_costs_no_hmac_again(codec: IdCodec, macs: list[str]) -> None:
    cookie = codec.sign(codec.new())
    del macs[:]
    first = codec.verify(cookie)
    assert first is not None
    assert len(macs) == 2  # the signature, the at-rest hash
    again = codec.verify(cookie)
    assert again is first
    assert len(macs) == 2
    assert codec.sign(again) == cookie


def test_forged_cookies_are_checked_in_full_every_time_and_never_remembered(
    codec: IdCodec, macs: list[str]
) -> None:
    cookie = codec.sign(codec.new())
    assert codec.verify(cookie) is not None  # remembered
    value, _, signature = cookie.partition(".")
    forged = [f"{value}.{signature[::-1]}", f"{value[:-2]}AA.{signature}", cookie[:-1] + "B"]
    for attempt in forged * 2:
        before = len(macs)
        assert codec.verify(attempt) is None
        assert len(macs) > before or _ids._COOKIE.fullmatch(attempt) is None  # an HMAC, or refused unread
    variants = {cookie[:-1] + ch for ch in B64URL} | {cookie[1:] + ch for ch in B64URL}
    assert [v for v in variants - {cookie} if codec.verify(v) is not None] == []


def test_a_cookie_signed_with_an_older_key_is_remembered_with_its_resign_flag(macs: list[str]) -> None:
    cookie = IdCodec([A]).sign(IdCodec([A]).new())
    rotated = IdCodec([A, B])
    first = rotated.verify(cookie)
    again = rotated.verify(cookie)
    assert first is not None and again is first
    assert again.resign
    assert rotated.sign(again) != cookie


def test_the_memory_of_verified_cookies_is_bounded_oldest_out(
    codec: IdCodec, macs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_ids, "VERIFIED_CACHE_SIZE", 2)
    cookies = [codec.sign(codec.new()) for _ in range(3)]
    found = [codec.verify(c) for c in cookies]
    del macs[:]
    assert codec.verify(cookies[2]) is found[2]  # still there
    assert codec.verify(cookies[1]) is found[1]
    assert macs == []
    again = codec.verify(cookies[0])  # dropped: checked in full, and the same id
    assert macs != []
    assert again == found[0]
    assert again is not found[0]


# -- cycle -----------------------------------------------------------------------------------


def test_cycle_keeps_the_slot_tag_and_renews_everything_else(codec: IdCodec) -> None:
    old = codec.new()
    new = codec.cycle(old)
    assert new.tag == old.tag
    assert new.value[:TAG_CHARS] == old.value[:TAG_CHARS]
    assert secret_part(new) != secret_part(old)
    assert new.hashed != old.hashed
    keys = KeySchema()
    assert key_slot(keys.data(new).encode()) == key_slot(keys.data(old).encode())
    assert codec.verify(codec.sign(new)) == new


# -- what Redis and logs see -------------------------------------------------------------------


def _substrings(text: str, size: int = 6) -> set[str]:
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def test_the_hashed_id_reveals_no_part_of_the_secret(codec: IdCodec) -> None:
    keys = KeySchema()
    for _ in range(50):
        sid = codec.new()
        secret = secret_part(sid)
        seen_by_redis = keys.data(sid) + keys.public_id(sid)
        assert not any(part in seen_by_redis for part in _substrings(secret))
        assert raw_of(secret) not in raw_of(sid.hashed)
        assert sid.value not in repr(sid)


def test_the_hash_needs_the_key() -> None:
    sid = IdCodec([A]).new()
    cookie = IdCodec([A]).sign(sid)
    elsewhere = IdCodec([OTHER, A]).verify(cookie)  # A still verifies, but OTHER is the hash key
    assert elsewhere is not None
    assert elsewhere.value == sid.value
    assert elsewhere.hashed != sid.hashed


def test_repr_hides_the_id(codec: IdCodec) -> None:
    sid = codec.new()
    for text in (repr(sid), str(sid), f"{sid}", repr([sid])):
        assert sid.value not in text
        assert not any(part in text for part in _substrings(secret_part(sid)))
        assert text.count(sid.hashed[:12]) == 1


def test_user_hash_is_keyed_and_opaque() -> None:
    codec = IdCodec([A])
    assert codec.hash_user("alice") == codec.hash_user("alice")
    assert codec.hash_user("alice") != codec.hash_user("bob")
    assert codec.hash_user("alice") != IdCodec([OTHER]).hash_user("alice")
    assert "alice" not in codec.hash_user("alice")
    assert set(codec.hash_user("alice")) <= B64URL


def test_a_cookie_signed_with_an_older_key_asks_to_be_resigned() -> None:
    old, new = Secret("o" * 32), Secret("n" * 32)
    sid = IdCodec([old]).new()
    cookie = IdCodec([old]).sign(sid)
    rotated = IdCodec([old, new])
    found = rotated.verify(cookie)
    assert found is not None
    assert found.resign
    fresh = rotated.verify(rotated.sign(found))
    assert fresh is not None
    assert not fresh.resign


def test_an_explicit_hash_key_survives_retiring_the_oldest_key() -> None:
    first, second, pinned = Secret("1" * 32), Secret("2" * 32), Secret("h" * 32)
    before = IdCodec([first, second], hash_key=pinned)
    sid = before.new()
    after = IdCodec([second], hash_key=pinned).verify(before.sign(sid))
    assert after is not None
    assert after.hashed == sid.hashed


def test_signing_a_verified_id_gives_back_its_cookie_without_a_new_hmac() -> None:
    codec = IdCodec([A, B])
    cookie = codec.sign(codec.new())
    found = codec.verify(cookie)
    assert found is not None
    assert found.cookie == cookie
    assert codec.sign(found) == cookie
    recomputed = SessionId(value=found.value, tag=found.tag, hashed=found.hashed)
    assert codec.sign(recomputed) == cookie
    older = IdCodec([A]).sign(found)  # signed with a key that is no longer the newest
    stale = codec.verify(older)
    assert stale is not None
    assert stale.cookie is None
    assert codec.sign(stale) == cookie


def test_signatures_and_hashes_never_change_for_a_given_key() -> None:
    """Known answers: a change here would log everyone out (cookies) or lose every session (hashes)."""
    codec = IdCodec([Secret("a" * 32), Secret("b" * 32)], hash_key=Secret("h" * 32))
    cookie = "aUtw_0I65x1jcsFroKHiO4VbIcN3x_AGvIMKj6Fm00G8h44nQis.k4SqLOVdSbBcrdpAxcmXtQ"
    found = codec.verify(cookie)
    assert found is not None
    assert not found.resign
    assert found.hashed == "yKeuG6o0zVfH9LqDUh6Wfu_S3OyGY7hDNQ14BeCOSQQ"
    assert codec.sign(SessionId(value=found.value, tag=found.tag, hashed=found.hashed)) == cookie
    assert codec.hash_user("alice") == "C1V5TPnbriuVYVEbkl6MJEPR"
