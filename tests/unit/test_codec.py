"""Codec: JSON values (never pickle), optional AES-GCM bound to a context, key rotation."""

from __future__ import annotations

import ast
import dataclasses
import datetime
from pathlib import Path
from typing import Any

import pytest

import hasession
from hasession._codec import Codec
from hasession._config import Secret
from hasession._exceptions import SessionDataError, TamperedSession, UndecodableSession

K1, K2, K3 = (Secret(ch * 32) for ch in "123")
CTX = b"tag\0cart"

JSON_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    1.5,
    "",
    "plain",
    "ünïcødé \u2603 \U0001f600",
    'quote " backslash \\ nul \0',
    [],
    {},
    [1, "two", [3.0, None], {"four": False}],
    {"nested": {"deep": [{"x": 1}]}, "": "empty key"},
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
@pytest.mark.parametrize("keys", [(), (K1,)], ids=["plain", "encrypted"])
def test_json_round_trip(value: Any, keys: tuple[Secret, ...]) -> None:
    codec = Codec(keys)
    assert codec.decode(codec.encode(value, context=CTX), context=CTX) == value


def test_plain_values_are_json_bytes() -> None:
    assert Codec().encode({"a": [1, 2]}, context=CTX) == b'{"a":[1,2]}'
    assert not Codec().encrypts


NOT_JSON: list[Any] = [
    {1, 2},
    b"bytes",
    object(),
    1 + 2j,
    {1: "non-str key"},
    2**64,
    [{"nested": {3}}],
]


@pytest.mark.parametrize(
    "value", NOT_JSON, ids=lambda value: "object()" if type(value) is object else repr(value)
)
@pytest.mark.parametrize("keys", [(), (K1,)], ids=["plain", "encrypted"])
def test_a_non_json_value_is_refused(value: Any, keys: tuple[Secret, ...]) -> None:
    with pytest.raises(SessionDataError) as info:
        Codec(keys).encode(value, context=CTX)
    assert isinstance(info.value.original_error, TypeError)
    assert info.value.__cause__ is info.value.original_error


@dataclasses.dataclass
class _Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.date(2024, 1, 2), _Point(1)],
    ids=["datetime", "date", "dataclass"],
)
def test_values_that_do_not_round_trip_are_refused(value: Any) -> None:
    with pytest.raises(SessionDataError):
        Codec().encode(value, context=CTX)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b'{"a":1}trailing'], ids=repr)
def test_undecodable_bytes(raw: bytes) -> None:
    with pytest.raises(UndecodableSession) as info:
        Codec().decode(raw, context=CTX)
    assert info.value.payload == raw


# -- encryption ------------------------------------------------------------------------------


def test_ciphertext_hides_the_value_and_uses_a_fresh_nonce() -> None:
    codec = Codec([K1])
    first, second = (codec.encode({"card": "4111111111111111"}, context=CTX) for _ in range(2))
    assert codec.encrypts
    assert first != second
    assert b"4111" not in first
    assert b"card" not in first


def test_an_old_key_still_decrypts_and_only_the_newest_encrypts() -> None:
    old_value = Codec([K1]).encode("old", context=CTX)
    rotated = Codec([K1, K2])
    assert rotated.decode(old_value, context=CTX) == "old"
    new_value = rotated.encode("new", context=CTX)
    assert Codec([K2]).decode(new_value, context=CTX) == "new"
    assert Codec([K2, K3]).decode(new_value, context=CTX) == "new"
    with pytest.raises(TamperedSession):
        Codec([K1]).decode(new_value, context=CTX)


def test_a_retired_key_no_longer_decrypts() -> None:
    with pytest.raises(TamperedSession):
        Codec([K2, K3]).decode(Codec([K1]).encode("x", context=CTX), context=CTX)


@pytest.mark.parametrize("other", [b"tag\0user", b"gat\0cart", b"", b"tag\0cart\0"], ids=repr)
def test_ciphertext_is_bound_to_its_context(other: bytes) -> None:
    codec = Codec([K1])
    raw = codec.encode([1, 2], context=CTX)
    with pytest.raises(TamperedSession) as info:
        codec.decode(raw, context=other)
    assert info.value.payload == raw


def test_a_plain_value_in_an_encrypted_store_is_tampering() -> None:
    with pytest.raises(TamperedSession):
        Codec([K1]).decode(Codec().encode({"admin": True}, context=CTX), context=CTX)


def test_an_encrypted_value_in_a_plain_store_is_not_trusted() -> None:
    with pytest.raises(TamperedSession):
        Codec().decode(Codec([K1]).encode("x", context=CTX), context=CTX)


def _corrupt(raw: bytes, index: int) -> bytes:
    return raw[:index] + bytes([raw[index] ^ 1]) + raw[index + 1 :]


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: _corrupt(raw, len(raw) - 1),  # tag
        lambda raw: _corrupt(raw, 20),  # ciphertext / nonce
        lambda raw: _corrupt(raw, 2),  # key id
        lambda raw: raw[:-1],
        lambda raw: raw[:10],
        lambda raw: raw[:1],
        lambda raw: raw + b"x",
    ],
    ids=["tag", "body", "key id", "short", "truncated", "mark only", "extended"],
)
def test_damaged_ciphertext_is_tampering(damage: Any) -> None:
    codec = Codec([K1])
    with pytest.raises(TamperedSession):
        codec.decode(damage(codec.encode({"a": 1}, context=CTX)), context=CTX)


def test_errors_never_show_the_payload_in_their_message() -> None:
    codec = Codec([K1])
    raw = Codec().encode("secret-value", context=CTX)
    with pytest.raises(TamperedSession) as info:
        codec.decode(raw, context=CTX)
    assert "secret-value" not in str(info.value)


# -- no pickle, anywhere ---------------------------------------------------------------------

_UNSAFE = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "jsonpickle", "marshal", "shelve"}


def _unsafe_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module.split(".")[0]]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        found += [f"{path.name}:{getattr(node, 'lineno', '?')}: {n}" for n in names if n in _UNSAFE]
    return found


def test_no_pickle_anywhere_in_the_source_tree() -> None:
    root = Path(hasession.__file__).parent
    sources = sorted(root.rglob("*.py"))
    assert len(sources) > 15
    assert [use for path in sources for use in _unsafe_uses(path)] == []
    for path in sources:  # also strings, e.g. an importlib.import_module("pickle")
        text = path.read_text()
        assert "import pickle" not in text
        assert "pickle.load" not in text
        assert '"pickle"' not in text
