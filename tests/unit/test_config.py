"""Configuration values: frozen, keyword-only, validated once, secrets never shown."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from hasession._config import (
    CookieOptions,
    DurabilityPolicy,
    RetryPolicy,
    Secret,
    SessionPolicy,
    secrets_tuple,
)
from hasession._exceptions import ConfigurationError
from hasession._store import StoreConfig
from hasession._topology import Address, ConnectionOptions, Standalone

KEY = Secret("k" * 32)
MASK = "Secret('**********')"


# -- Secret ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["hunter2-password", b"hunter2-password"])
def test_a_secret_never_shows_its_value(value: str | bytes) -> None:
    secret = Secret(value)
    assert repr(secret) == str(secret) == f"{secret}" == f"{secret!r}" == MASK
    assert repr([secret]) == f"[{MASK}]"
    assert "hunter2" not in repr({"k": secret})
    options = ConnectionOptions(password=secret)
    assert "hunter2" not in repr(options)
    assert "hunter2" not in repr(Standalone(address=Address("h", 1), options=options))


def test_a_secret_reveals_bytes_on_request() -> None:
    assert Secret("pässword").reveal() == "pässword".encode()
    assert Secret(b"\x00\xff").reveal() == b"\x00\xff"
    assert Secret(bytearray(b"ab")).reveal() == b"ab"  # type: ignore[arg-type]


def test_secrets_compare_by_value() -> None:
    assert Secret("a") == Secret(b"a")
    assert hash(Secret("a")) == hash(Secret(b"a"))
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert Secret("a") != b"a"


def test_secrets_tuple_normalises_keys() -> None:
    assert secrets_tuple("k") == (Secret("k"),)
    assert secrets_tuple(b"k") == (Secret("k"),)
    assert secrets_tuple(KEY) == (KEY,)
    assert secrets_tuple(["a", b"b", KEY]) == (Secret("a"), Secret("b"), KEY)
    with pytest.raises(ConfigurationError):
        secrets_tuple([])


# -- frozen, keyword-only values -------------------------------------------------------------

VALUES: list[Any] = [
    CookieOptions(),
    RetryPolicy(),
    DurabilityPolicy(),
    SessionPolicy(),
    StoreConfig(topology=Standalone(address=Address("h", 6379)), secret_keys=(KEY,)),
]
IDS = [type(v).__name__ for v in VALUES]


@pytest.mark.parametrize("value", VALUES, ids=IDS)
def test_config_values_are_frozen(value: Any) -> None:
    name = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, name, getattr(value, name))
    with pytest.raises((AttributeError, TypeError)):
        value.undeclared = 1  # slots: no stray attributes


@pytest.mark.parametrize("value", VALUES, ids=IDS)
def test_config_values_are_keyword_only(value: Any) -> None:
    first = getattr(value, dataclasses.fields(value)[0].name)
    with pytest.raises(TypeError):
        type(value)(first)


@pytest.mark.parametrize("value", VALUES, ids=IDS)
def test_config_values_compare_and_hash_by_value(value: Any) -> None:
    assert value == dataclasses.replace(value)
    assert hash(value) == hash(dataclasses.replace(value))


def test_defaults() -> None:
    assert CookieOptions() == CookieOptions(
        name="session",
        path="/",
        domain=None,
        secure=True,
        httponly=True,
        samesite="lax",
        max_age=None,
        partitioned=False,
    )
    assert DurabilityPolicy().mode == "async"
    assert SessionPolicy().concurrency == "merge"
    assert RetryPolicy().hold_budget == 10.0


# -- validation ------------------------------------------------------------------------------

INVALID: dict[str, Callable[[], object]] = {
    "samesite none, not secure": lambda: CookieOptions(samesite="none", secure=False),
    "empty cookie name": lambda: CookieOptions(name=""),
    "space in cookie name": lambda: CookieOptions(name="my session"),
    "semicolon in cookie name": lambda: CookieOptions(name="a;b"),
    "equals in cookie name": lambda: CookieOptions(name="a=b"),
    "comma in cookie name": lambda: CookieOptions(name="a,b"),
    "quote in cookie name": lambda: CookieOptions(name='a"b'),
    "newline in cookie name": lambda: CookieOptions(name="a\r\nSet-Cookie: x"),
    "tab in cookie name": lambda: CookieOptions(name="a\tb"),
    "negative hold budget": lambda: RetryPolicy(hold_budget=-1),
    "zero backoff base": lambda: RetryPolicy(backoff_base=0),
    "cap below base": lambda: RetryPolicy(backoff_base=0.5, backoff_cap=0.1),
    "no held operations": lambda: RetryPolicy(max_held=0),
    "unknown durability": lambda: DurabilityPolicy(mode="sync"),  # type: ignore[arg-type]
    "zero replicas": lambda: DurabilityPolicy(mode="replicated", replicas=0),
    "zero wait timeout": lambda: DurabilityPolicy(mode="replicated", wait_timeout_ms=0),
    "zero idle timeout": lambda: SessionPolicy(idle_timeout=0),
    "idle above absolute": lambda: SessionPolicy(idle_timeout=100, absolute_timeout=99),
    "negative touch interval": lambda: SessionPolicy(touch_interval=-1),
    "touch interval of the idle timeout": lambda: SessionPolicy(idle_timeout=60, touch_interval=60),
    "tiny max size": lambda: SessionPolicy(max_size=255),
    "unknown concurrency": lambda: SessionPolicy(concurrency="locks"),  # type: ignore[arg-type]
    "empty key prefix": lambda: SessionPolicy(key_prefix=""),
    "brace in key prefix": lambda: SessionPolicy(key_prefix="a{b"),
    "closing brace in key prefix": lambda: SessionPolicy(key_prefix="a}"),
    "no secret keys": lambda: StoreConfig(topology=Standalone(), secret_keys=()),
    "short secret key": lambda: StoreConfig(topology=Standalone(), secret_keys=(KEY, Secret("x" * 15))),
    "from_url without keys": lambda: StoreConfig.from_url("redis://h", secret_keys=[]),
    "from_url with a bad url": lambda: StoreConfig.from_url("http://h", secret_keys=KEY),
    "replace re-validates": lambda: dataclasses.replace(SessionPolicy(), max_size=1),
}


@pytest.mark.parametrize("make", INVALID.values(), ids=INVALID.keys())
def test_invalid_values_raise_configuration_error(make: Callable[[], object]) -> None:
    with pytest.raises(ConfigurationError) as info:
        make()
    assert isinstance(info.value, ValueError)


VALID: dict[str, Callable[[], object]] = {
    "samesite none, secure": lambda: CookieOptions(samesite="none"),
    "no hold": lambda: RetryPolicy(hold_budget=0),
    "cap equals base": lambda: RetryPolicy(backoff_base=0.1, backoff_cap=0.1),
    "one held operation": lambda: RetryPolicy(max_held=1),
    "touch on every load": lambda: SessionPolicy(touch_interval=0),
    "idle equals absolute": lambda: SessionPolicy(idle_timeout=60, absolute_timeout=60, touch_interval=59),
    "smallest max size": lambda: SessionPolicy(max_size=256),
    "cas": lambda: SessionPolicy(concurrency="cas"),
    "16-byte key": lambda: StoreConfig(topology=Standalone(), secret_keys=(Secret("x" * 16),)),
}


@pytest.mark.parametrize("make", VALID.values(), ids=VALID.keys())
def test_boundary_values_are_accepted(make: Callable[[], object]) -> None:
    make()


@pytest.mark.parametrize("samesite", ["None", "Lax", "bogus", ""])
def test_an_unknown_samesite_is_refused(samesite: str) -> None:
    try:
        CookieOptions(samesite=samesite, secure=False)  # type: ignore[arg-type]
    except ConfigurationError:
        return
    raise AssertionError(f"CookieOptions(samesite={samesite!r}, secure=False) was accepted")


@pytest.mark.parametrize(
    "options",
    [{"path": "/; HttpOnly=0"}, {"path": "/\r\nX-Injected: 1"}, {"domain": "example.com; Secure=0"}],
    ids=["path ;", "path CRLF", "domain ;"],
)
def test_path_and_domain_cannot_break_the_header(options: dict[str, str]) -> None:
    try:
        CookieOptions(**options)  # type: ignore[arg-type]
    except ConfigurationError:
        return
    raise AssertionError(f"CookieOptions(**{options!r}) was accepted")


# -- StoreConfig -----------------------------------------------------------------------------


def test_store_config_from_url() -> None:
    config = StoreConfig.from_url("redis://cache:6380/2", secret_keys="k" * 32, encryption_keys=["e" * 32])
    assert config.topology == Standalone(address=Address("cache", 6380), options=ConnectionOptions(db=2))
    assert config.secret_keys == (KEY,)
    assert config.encryption_keys == (Secret("e" * 32),)
    assert (config.session, config.retry, config.durability) == (
        SessionPolicy(),
        RetryPolicy(),
        DurabilityPolicy(),
    )
    assert "k" * 32 not in repr(config)
    assert "e" * 32 not in repr(config)


def test_store_config_keeps_the_given_policies() -> None:
    policy = SessionPolicy(concurrency="cas")
    durability = DurabilityPolicy(mode="replicated")
    config = StoreConfig.from_url("redis://h", secret_keys=[KEY], session=policy, durability=durability)
    assert (config.session, config.durability) == (policy, durability)


@pytest.mark.parametrize(
    "options",
    [
        {"name": "__Host-session", "secure": False},
        {"name": "__Host-session", "path": "/app"},
        {"name": "__Host-session", "domain": "example.com"},
        {"name": "__Secure-session", "secure": False},
    ],
)
def test_a_prefixed_cookie_name_needs_the_attributes_browsers_require(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        CookieOptions(**options)


def test_well_formed_prefixed_cookies_are_accepted() -> None:
    assert CookieOptions(name="__Host-session").name == "__Host-session"
    assert CookieOptions(name="__Secure-session", domain="example.com", path="/app").secure
