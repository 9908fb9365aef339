"""Set-Cookie headers: every CookieOptions attribute, deletion, and when a header is needed."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest

from hasession._config import CookieOptions
from hasession._cookies import delete_cookie_header, set_cookie_header
from hasession._results import SaveResult

VALUE = "abc-DEF_123.sig"
SET = SaveResult(cookie="set", value=VALUE, wrote=True)
EXPIRED = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize(
    ("options", "header"),
    [
        (CookieOptions(), f"session={VALUE}; Path=/; Secure; HttpOnly; SameSite=Lax"),
        (CookieOptions(name="sid"), f"sid={VALUE}; Path=/; Secure; HttpOnly; SameSite=Lax"),
        (CookieOptions(path="/app"), f"session={VALUE}; Path=/app; Secure; HttpOnly; SameSite=Lax"),
        (
            CookieOptions(domain="example.com"),
            f"session={VALUE}; Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Lax",
        ),
        (
            CookieOptions(max_age=3600),
            f"session={VALUE}; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax",
        ),
        (CookieOptions(secure=False), f"session={VALUE}; Path=/; HttpOnly; SameSite=Lax"),
        (CookieOptions(httponly=False), f"session={VALUE}; Path=/; Secure; SameSite=Lax"),
        (CookieOptions(samesite="strict"), f"session={VALUE}; Path=/; Secure; HttpOnly; SameSite=Strict"),
        (CookieOptions(samesite="none"), f"session={VALUE}; Path=/; Secure; HttpOnly; SameSite=None"),
        (
            CookieOptions(partitioned=True),
            f"session={VALUE}; Path=/; Secure; HttpOnly; SameSite=Lax; Partitioned",
        ),
        (
            CookieOptions(
                name="s",
                path="/p",
                domain=".example.org",
                secure=True,
                httponly=False,
                samesite="none",
                max_age=60,
                partitioned=True,
            ),
            f"s={VALUE}; Path=/p; Domain=.example.org; Max-Age=60; Secure; SameSite=None; Partitioned",
        ),
    ],
    ids=["defaults", "name", "path", "domain", "max_age", "insecure", "js", "strict", "none", "chips", "all"],
)
def test_every_attribute_is_rendered(options: CookieOptions, header: str) -> None:
    assert set_cookie_header(options, SET) == header


def test_a_browser_parser_reads_the_header_back() -> None:
    options = CookieOptions(name="sid", path="/app", domain="example.com", max_age=60, samesite="strict")
    header = set_cookie_header(options, SET)
    assert header is not None
    morsel = SimpleCookie(header)["sid"]
    assert morsel.value == VALUE
    assert (morsel["path"], morsel["domain"], morsel["max-age"]) == ("/app", "example.com", "60")
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"


@pytest.mark.parametrize(
    ("options", "header"),
    [
        (CookieOptions(), f"session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax; {EXPIRED}"),
        (
            CookieOptions(max_age=3600),
            f"session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax; {EXPIRED}",
        ),
        (
            CookieOptions(name="s", path="/p", domain="example.com", partitioned=True),
            "s=; Path=/p; Domain=example.com; Max-Age=0; Secure; HttpOnly; SameSite=Lax; Partitioned; "
            + EXPIRED,
        ),
    ],
    ids=["defaults", "max_age ignored", "same scope as the cookie"],
)
def test_the_delete_header(options: CookieOptions, header: str) -> None:
    assert delete_cookie_header(options) == header
    assert set_cookie_header(options, SaveResult(cookie="delete")) == header


NO_MAX_AGE = CookieOptions()
MAX_AGE = CookieOptions(max_age=600)


@pytest.mark.parametrize(
    ("options", "result", "expected"),
    [
        (NO_MAX_AGE, SaveResult(cookie="set", value=VALUE, wrote=True), f"session={VALUE}; Path=/"),
        (MAX_AGE, SaveResult(cookie="set", value=VALUE, wrote=True), f"session={VALUE}; Path=/; Max-Age=600"),
        (NO_MAX_AGE, SaveResult(cookie="keep", value=VALUE), None),
        (NO_MAX_AGE, SaveResult(cookie="keep", value=VALUE, wrote=True), None),
        (NO_MAX_AGE, SaveResult(cookie="keep", value=VALUE, refresh=True), None),
        (MAX_AGE, SaveResult(cookie="keep", value=VALUE), None),
        (
            MAX_AGE,
            SaveResult(cookie="keep", value=VALUE, refresh=True),
            f"session={VALUE}; Path=/; Max-Age=600",
        ),
        (MAX_AGE, SaveResult(cookie="keep"), None),
        (MAX_AGE, SaveResult(cookie="keep", refresh=True), None),
        (NO_MAX_AGE, SaveResult(cookie="delete"), "session=; Path=/; Max-Age=0"),
        (MAX_AGE, SaveResult(cookie="delete"), "session=; Path=/; Max-Age=0"),
    ],
    ids=[
        "new cookie",
        "new cookie with max-age",
        "unchanged",
        "written, same cookie",
        "refresh without max-age",
        "max-age, no refresh",
        "max-age refresh",
        "no value",
        "no value, refresh",
        "delete",
        "delete with max-age",
    ],
)
def test_a_header_only_when_needed(options: CookieOptions, result: SaveResult, expected: str | None) -> None:
    header = set_cookie_header(options, result)
    if expected is None:
        assert header is None
    else:
        assert header is not None
        assert header.startswith(expected + ";")


def test_headers_are_single_lines() -> None:
    for header in (set_cookie_header(MAX_AGE, SET), delete_cookie_header(MAX_AGE)):
        assert header is not None
        assert "\r" not in header
        assert "\n" not in header
