"""Session values to bytes and back: JSON (never pickle), optionally AES-GCM encrypted.

Each top-level session key is stored as its own Redis hash field, so each value is encoded
on its own. ``bench/codec.py`` measured orjson and msgspec within about 20 % of each other on
session-shaped data (msgspec a little faster to encode, orjson as fast or faster to decode),
both 8-12x faster than the standard library. orjson was picked because it can *refuse* values
that would not come back as they went in (datetimes, dataclasses), where msgspec quietly turns
them into strings and dicts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson

from ._config import Secret
from ._exceptions import ConfigurationError, SessionDataError, TamperedSession, UndecodableSession

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["Codec", "JSON"]

JSON: TypeAlias = "dict[str, JSON] | list[JSON] | str | int | float | bool | None"

# Refuse values that would come back as something else (a datetime as a str, a dataclass as a dict).
_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_NONCE = 12
_KEY_ID = 4
_MARK = b"\x01"  # format byte of encrypted values


def _aesgcm(key: bytes) -> AESGCM:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "encryption needs the 'cryptography' package: pip install hasession[crypto]"
        ) from exc
    return AESGCM(key)


class Codec:
    """Encodes one session value; encrypts it when keys are given (newest last encrypts).

    The authenticated data binds each ciphertext to its session and field, so a value copied
    into another session or field does not decrypt.
    """

    __slots__ = ("_ciphers", "_newest")

    def __init__(self, encryption_keys: Sequence[Secret] = ()) -> None:
        self._ciphers: dict[bytes, AESGCM] = {}
        self._newest: bytes | None = None
        for key in encryption_keys:
            material = hashlib.sha256(b"hasession/aes-gcm" + key.reveal()).digest()
            key_id = hashlib.sha256(material).digest()[:_KEY_ID]
            self._ciphers[key_id] = _aesgcm(material)
            self._newest = key_id

    @property
    def encrypts(self) -> bool:
        """Whether values are encrypted at rest."""
        return self._newest is not None

    def encode(self, value: Any, *, context: bytes) -> bytes:
        """Bytes to store for ``value``; ``context`` names the session and field."""
        return self.seal(self.dumps(value), context=context)

    @staticmethod
    def dumps(value: Any) -> bytes:
        """The JSON text of ``value``; values that would not come back as they went in are refused."""
        try:
            return orjson.dumps(value, option=_STRICT)
        except TypeError as exc:
            raise SessionDataError(f"session values must be JSON: {exc}", original_error=exc) from exc

    def seal(self, plain: bytes, *, context: bytes) -> bytes:
        """Bytes to store for the JSON text ``plain`` (encrypted when keys are configured)."""
        if self._newest is None:
            return plain
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[self._newest].encrypt(nonce, plain, context)
        return _MARK + self._newest + nonce + sealed

    def decode(self, raw: bytes, *, context: bytes) -> Any:
        """The value stored as ``raw``; raises a :class:`SessionDataError` subclass if it is bad."""
        return self.decode_plain(raw, context=context)[0]

    def decode_plain(self, raw: bytes, *, context: bytes) -> tuple[Any, bytes]:
        """The value stored as ``raw`` and its JSON text (what a save compares against)."""
        if raw[:1] == _MARK:
            raw = self._open(raw, context)
        elif self._newest is not None:
            raise TamperedSession("unencrypted value in an encrypted store", payload=raw)
        try:
            return orjson.loads(raw), raw
        except orjson.JSONDecodeError as exc:
            raise UndecodableSession(
                "stored session value is not JSON", payload=raw, original_error=exc
            ) from exc

    def _open(self, raw: bytes, context: bytes) -> bytes:
        key_id, nonce = raw[1 : 1 + _KEY_ID], raw[1 + _KEY_ID : 1 + _KEY_ID + _NONCE]
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise TamperedSession("value encrypted with an unknown key", payload=raw)
        try:
            return cipher.decrypt(nonce, raw[1 + _KEY_ID + _NONCE :], context)
        except Exception as exc:  # cryptography raises InvalidTag
            raise TamperedSession("value failed authentication", payload=raw, original_error=exc) from exc
