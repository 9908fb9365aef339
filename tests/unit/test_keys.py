"""KeySchema: key names, one hash slot per session, public ids that are not cookies."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from hasession._config import Secret
from hasession._ids import IdCodec, SessionId
from hasession._keys import KeySchema

CODEC = IdCodec([Secret("k" * 32)])


@pytest.fixture
def sid() -> SessionId:
    return CODEC.new()


@pytest.mark.parametrize("prefix", ["hs", "app:sessions"])
def test_key_names(sid: SessionId, prefix: str) -> None:
    keys = KeySchema(prefix)
    assert keys.data(sid) == f"{prefix}:{{{sid.tag}}}:{sid.hashed}"
    assert keys.user_index("uh") == f"{prefix}:u:{{uh}}"
    assert keys.public_id(sid) == f"{sid.tag}.{sid.hashed}"


def test_default_prefix(sid: SessionId) -> None:
    assert KeySchema().data(sid).startswith("hs:{")


def test_every_key_of_a_session_shares_one_slot(sid: SessionId) -> None:
    keys = KeySchema()
    cycled = CODEC.cycle(sid)
    names = [keys.data(sid), keys.data(cycled)]
    assert {key_slot(name.encode()) for name in names} == {key_slot(sid.tag.encode())}


def test_sessions_spread_over_slots() -> None:
    keys = KeySchema()
    slots = {key_slot(keys.data(CODEC.new()).encode()) for _ in range(200)}
    assert len(slots) > 150


def test_public_id_leads_back_to_the_data_key(sid: SessionId) -> None:
    keys = KeySchema()
    assert keys.data_for_public(keys.public_id(sid)) == keys.data(sid)
    assert keys.data_for(sid.tag, sid.hashed) == keys.data(sid)


def test_a_public_id_is_not_a_cookie(sid: SessionId) -> None:
    public = KeySchema().public_id(sid)
    assert CODEC.verify(public) is None
    assert sid.value not in public
