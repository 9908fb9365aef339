"""The adapters' shared migration step (hasession._web.adopt), with a reader that needs no Redis."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from hasession import Session, UnsafeSessionFormat
from hasession._config import Secret
from hasession._ids import IdCodec
from hasession._web import adopt, adoptable
from hasession.migrate import Migration


@dataclass
class Reader:
    stored: dict[str, dict[str, Any]]
    cookie_name: str = "old"
    error: Exception | None = None
    deleted: list[str] = field(default_factory=list)

    def read(self, cookie: str) -> dict[str, Any] | None:
        if self.error is not None:
            raise self.error
        return self.stored.get(cookie)

    def delete(self, cookie: str) -> None:
        self.deleted.append(cookie)


def test_only_a_request_without_a_hasession_session_and_with_the_old_cookie_adopts() -> None:
    migration = Migration(reader=Reader({}))
    assert adoptable(Session(), {"old": "abc"}, migration) == "abc"
    assert adoptable(Session(), {"other": "abc"}, migration) is None
    assert adoptable(Session(), {"old": "abc"}, None) is None
    sid = IdCodec([Secret(b"k" * 32)]).new()
    assert adoptable(Session(sid), {"old": "abc"}, migration) is None


def test_the_old_data_and_user_are_copied_and_the_old_session_deleted_only_at_the_end() -> None:
    reader = Reader({"abc": {"user": "ann", "cart": [1]}})
    migration = Migration(reader=reader, delete_old=True, user_id=lambda d: d["user"])
    session = Session()
    adoption = adopt(session, "abc", migration)
    assert adoption is not None
    assert dict(session) == {"user": "ann", "cart": [1]}
    assert session.user_id == "ann"
    assert session.modified
    assert reader.deleted == []  # not before the new session is saved
    assert adoption.finish("session") is not None
    assert reader.deleted == ["abc"]


def test_nothing_to_adopt() -> None:
    session = Session()
    assert adopt(session, "missing", Migration(reader=Reader({}))) is None
    assert not session.modified


@pytest.mark.parametrize("error", [UnsafeSessionFormat("pickle"), ConnectionError("old store down")])
def test_a_reader_error_is_logged_and_the_request_goes_on(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    session = Session()
    with caplog.at_level(logging.ERROR, logger="hasession"):
        assert adopt(session, "abc", Migration(reader=Reader({}, error=error))) is None
    assert not session.modified
    assert type(error).__name__ in caplog.text
