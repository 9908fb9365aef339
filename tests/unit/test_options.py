"""The store's keyword options: one list, taken from the fields of StoreConfig, checked at build time."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

import pytest

from hasession import (
    DurabilityPolicy,
    RetryPolicy,
    Secret,
    SessionPolicy,
    SessionStore,
    StoreConfig,
    StoreOptions,
    StoreUnavailable,
)
from hasession._exceptions import ConfigurationError
from hasession._options import option_fields
from hasession._topology import Standalone

KEY = "k" * 32
OPTIONS = [f.name for f in dataclasses.fields(StoreConfig) if f.name != "topology"]


def test_the_options_are_the_fields_of_store_config() -> None:
    assert list(option_fields(StoreConfig)) == OPTIONS
    # StoreOptions is spelled out for type checkers: it must list exactly the same names.
    assert set(StoreOptions.__annotations__) == set(OPTIONS)


@pytest.mark.parametrize("typo", ["hold_budget", "totally_bogus", "secret_key"])
def test_an_unknown_option_names_every_valid_one(typo: str) -> None:
    for build in (
        lambda: StoreConfig.from_url("redis://h", secret_keys=KEY, **{typo: 2}),
        lambda: StoreConfig(topology=Standalone(), secret_keys=(Secret(KEY),), **{typo: 2}),
    ):
        with pytest.raises(ConfigurationError, match=f"unknown option '{typo}'") as excinfo:
            build()
        assert all(name in str(excinfo.value) for name in OPTIONS)


def test_a_policy_field_given_as_an_option_says_where_it_belongs() -> None:
    with pytest.raises(ConfigurationError, match=r"hold_budget is a field of RetryPolicy: retry=RetryPolicy"):
        StoreConfig.from_url("redis://h", secret_keys=KEY, hold_budget=2)  # type: ignore[call-arg]


def test_secret_keys_is_required() -> None:
    with pytest.raises(ConfigurationError, match=r"^secret_keys is required$"):
        StoreConfig.from_url("redis://h")  # type: ignore[call-arg]


@pytest.mark.parametrize("keys", [[], ()])
def test_an_empty_key_list_is_refused(keys: list[str]) -> None:
    with pytest.raises(ConfigurationError, match="at least one key"):
        StoreConfig.from_url("redis://h", secret_keys=keys)


def test_a_short_key_is_refused_with_a_way_to_make_one() -> None:
    with pytest.raises(ConfigurationError, match=r"at least 16 bytes.*secrets.token_urlsafe"):
        StoreConfig.from_url("redis://h", secret_keys=["old-key", "current-key"])


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("retry", {"hold_budget": 1.5}, RetryPolicy(hold_budget=1.5)),
        ("session", {"concurrency": "cas"}, SessionPolicy(concurrency="cas")),
        (
            "durability",
            {"mode": "replicated", "replicas": 2},
            DurabilityPolicy(mode="replicated", replicas=2),
        ),
        ("retry", RetryPolicy(max_held=3), RetryPolicy(max_held=3)),
        ("retry", None, RetryPolicy()),
    ],
)
def test_a_policy_is_an_object_a_dict_of_its_fields_or_none(name: str, given: Any, expected: Any) -> None:
    via_url = StoreConfig.from_url("redis://h", secret_keys=KEY, **{name: given})
    direct = StoreConfig(topology=Standalone(), secret_keys=KEY, **{name: given})  # type: ignore[arg-type]
    assert getattr(via_url, name) == getattr(direct, name) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"retry": {"hold_budget": 1, "max": 2}},
            r"unknown RetryPolicy fields \['max'\]; valid fields: hold_budget",
        ),
        ({"retry": {"hold_budget": "soon"}}, r"invalid retry=\{'hold_budget': 'soon'\}"),
        ({"retry": {"max_held": 0}}, "max_held must be >= 1"),
        ({"session": 3}, "session must be a SessionPolicy or a dict of its fields"),
        ({"sentinel_events": "no"}, "sentinel_events must be True or False"),
        ({"degraded_reads": "5"}, "degraded_reads must be a number of seconds"),
        ({"degraded_reads": -1}, "degraded_reads must be a number of seconds"),
        ({"id_hash_key": ["a" * 16, "b" * 16]}, "id_hash_key must be one key"),
        ({"encryption_keys": 5}, "encryption_keys must be a key"),
    ],
)
def test_invalid_values_are_refused_when_the_store_is_built(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SessionStore.from_url("redis://h", secret_keys=KEY, **options)


def test_keys_and_numbers_are_converted_once() -> None:
    config = StoreConfig.from_url(
        "redis://h", secret_keys=KEY, id_hash_key=b"h" * 16, encryption_keys="e" * 32, degraded_reads=2
    )
    assert (config.id_hash_key, config.encryption_keys) == (Secret(b"h" * 16), (Secret("e" * 32),))
    assert config.degraded_reads == 2.0 and isinstance(config.degraded_reads, float)
    assert dataclasses.replace(config) == config  # converting a converted value changes nothing


def test_a_dict_policy_holds_and_fails_cleanly_at_request_time() -> None:
    """The dict form once reached the retry loop as a dict: an AttributeError (a 500) on the first request."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: connections are refused
    with SessionStore.from_url(
        f"redis://127.0.0.1:{port}", secret_keys=KEY, retry={"hold_budget": 0.1}
    ) as store:
        assert isinstance(store.config.retry, RetryPolicy)
        session = store.open(None)
        session["user"] = "alice"
        with pytest.raises(StoreUnavailable):
            store.save(session)


def test_a_field_type_without_a_converter_fails_loudly() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Extended:
        topology: object
        shards: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="no option converter"):
        option_fields(Extended)
