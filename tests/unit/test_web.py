"""What every adapter shares: error answers, Vary, cookie checks and error logging."""

from __future__ import annotations

import logging
import warnings

import pytest

from hasession._config import CookieOptions
from hasession._exceptions import (
    Attempt,
    ConcurrentUpdate,
    FailoverInProgress,
    InsecureCookieWarning,
    MasterNotFound,
    StoreConnectionError,
    StoreError,
    StoreResponseError,
    StoreUnavailable,
)
from hasession._web import (
    ErrorAnswer,
    answer_for,
    check_cookie_options,
    cookie_value,
    log_store_error,
    vary_cookie,
)


def _headers(answer: ErrorAnswer) -> dict[str, str]:
    names = [name.lower() for name, _ in answer.headers]
    assert len(names) == len(set(names))
    return {name.lower(): value for name, value in answer.headers}


@pytest.mark.parametrize(
    ("exc", "retry_after"),
    [
        (StoreUnavailable("down", retry_after=7), "7"),
        (StoreUnavailable("down", retry_after=1), "1"),
        (StoreUnavailable("down"), "5"),
        (MasterNotFound("no master"), "5"),
        (FailoverInProgress("READONLY"), "5"),
        (StoreResponseError("ERR bug"), "5"),
        (StoreError("other"), "5"),
    ],
    ids=["7", "1", "default", "master not found", "failover", "response error", "store error"],
)
def test_store_errors_are_503_with_retry_after(exc: StoreError, retry_after: str) -> None:
    answer = answer_for(exc)
    headers = _headers(answer)
    assert answer.status == 503
    assert headers["retry-after"] == retry_after
    assert headers["content-type"].startswith("text/plain")
    assert headers["cache-control"] == "no-store"
    assert headers["vary"] == "Cookie"
    assert answer.body
    assert str(exc).encode() not in answer.body  # no internals (hosts, replies) in the page


def test_a_cas_conflict_is_409_without_retry_after() -> None:
    answer = answer_for(ConcurrentUpdate("session changed"))
    headers = _headers(answer)
    assert answer.status == 409
    assert "retry-after" not in headers
    assert headers["cache-control"] == "no-store"
    assert headers["vary"] == "Cookie"
    assert b"session changed" not in answer.body


@pytest.mark.parametrize(
    ("existing", "vary"),
    [
        (None, "Cookie"),
        ("", "Cookie"),
        ("Accept", "Accept, Cookie"),
        ("Accept-Encoding, Origin", "Accept-Encoding, Origin, Cookie"),
        ("Cookie", "Cookie"),
        ("cookie", "cookie"),
        ("Accept, Cookie", "Accept, Cookie"),
        ("Accept ,  COOKIE ", "Accept ,  COOKIE "),
        ("*", "*"),
        ("Cookie2", "Cookie2, Cookie"),
        ("X-Cookie", "X-Cookie, Cookie"),
    ],
)
def test_vary_cookie_merges(existing: str | None, vary: str) -> None:
    assert vary_cookie(existing) == vary


def _adapter_setup(options: CookieOptions) -> CookieOptions:
    return check_cookie_options(options)


def test_an_insecure_cookie_warns_at_the_callers_line() -> None:
    options = CookieOptions(secure=False)
    with pytest.warns(InsecureCookieWarning, match="not Secure") as record:
        assert _adapter_setup(options) is options
    assert record[0].filename == __file__  # stacklevel points past the adapter into user code


def test_a_secure_cookie_does_not_warn() -> None:
    options = CookieOptions()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_cookie_options(options) is options


def test_log_store_error(caplog: pytest.LogCaptureFixture) -> None:
    attempts = tuple(Attempt(StoreConnectionError("refused"), "10.0.0.1:6379", float(i)) for i in range(3))
    with caplog.at_level(logging.ERROR, logger="hasession"):
        log_store_error(StoreUnavailable("down", attempts=attempts), "GET /cart")
        log_store_error(ConcurrentUpdate("changed"), "POST /cart")
    first, second = caplog.records
    assert first.name == "hasession"
    assert first.levelno == logging.ERROR
    assert "GET /cart" in first.getMessage()
    assert "3 attempts" in first.getMessage()
    assert first.exc_info is None  # one line, no traceback noise
    assert "0 attempts" in second.getMessage()


# -- cookie_value: the session cookie without parsing every cookie ----------------------------

_VALUE = "aUtw_0I65x1jcsFroKHiO4VbIcN3x_AGvIMKj6Fm00G8h44nQis.k4SqLOVdSbBcrdpAxcmXtQ"
COOKIE_HEADERS = [
    f"session={_VALUE}",
    f"a=1; session={_VALUE}; b=2",
    f"a=1;session={_VALUE}",
    f"  session = {_VALUE} ",
    f"session={_VALUE}; session=other",
    f"session=other; session={_VALUE}",
    f"xsession=1; session={_VALUE}",
    f"session_old=1; session={_VALUE}",
    f"a=session; session={_VALUE}",
    f'a="x; session=evil"; session={_VALUE}',
    'a="x; session=evil"',
    f'session="{_VALUE}"',
    'session="a\\"b"',
    f"session={_VALUE[:10]} {_VALUE[10:]}",
    f"session=\t{_VALUE}",
    "session=",
    "session",
    "a=1; b=2",
    "",
    f"a=1,session={_VALUE}",
    f"SESSION={_VALUE}",
    f"session={_VALUE}%21",
    f"ab session={_VALUE}",
]


def _parsers() -> dict[str, object]:
    parsers: dict[str, object] = {}
    starlette = pytest.importorskip("starlette.requests", reason="the starlette extra")
    parsers["starlette"] = starlette.cookie_parser
    werkzeug = pytest.importorskip("werkzeug.sansio.http", reason="the flask extra")
    parsers["werkzeug"] = lambda h: werkzeug.parse_cookie(h).to_dict()  # first value wins
    aiohttp = pytest.importorskip("aiohttp._cookie_helpers", reason="the aiohttp extra")
    parsers["aiohttp"] = lambda h: {name: morsel.value for name, morsel in aiohttp.parse_cookie_header(h)}
    django = pytest.importorskip("django.http.cookie", reason="the django extra")
    parsers["django"] = django.parse_cookie
    return parsers


@pytest.mark.parametrize("header", COOKIE_HEADERS)
def test_cookie_value_finds_what_every_framework_parser_finds(header: str) -> None:
    for framework, parse in _parsers().items():
        expected = parse(header).get("session")  # type: ignore[operator]
        got = cookie_value(header, "session", lambda: parse(header))  # type: ignore[operator]  # noqa: B023
        assert got == expected, (framework, header)


@pytest.mark.parametrize("header", [f"session={_VALUE}", f"a=1; session={_VALUE}; b=2", "a=1; b=2", "", None])
def test_cookie_value_needs_no_parser_in_the_usual_case(header: str | None) -> None:
    def unused() -> dict[str, str]:
        raise AssertionError("parsed every cookie")

    assert cookie_value(header, "session", unused) in (_VALUE, None)
