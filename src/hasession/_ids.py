"""Session ids: generation, cookie signing and the keyed hash stored in Redis.

A session id is 38 random bytes: a 6-byte *slot tag* followed by a 32-byte (256-bit) secret.
The tag is not secret; it becomes the Redis Cluster hash tag, and :meth:`IdCodec.cycle` keeps
it so an id rotation stays inside one slot (atomic, no cross-slot ``RENAME``).

The cookie carries ``<id>.<signature>``: a forged, malformed or oversized cookie is rejected
here, before any Redis call. Redis only ever sees the tag and an HMAC of the whole id, so a
dump or ``MONITOR`` reveals nothing a client could present as a cookie.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._config import Secret

__all__ = ["IdCodec", "SessionId"]

TAG_BYTES = 6
SECRET_BYTES = 32
SIG_BYTES = 16
_ID_CHARS = -(-(TAG_BYTES + SECRET_BYTES) * 4 // 3)  # unpadded base64url length
_SIG_CHARS = -(-SIG_BYTES * 4 // 3)
MAX_COOKIE_CHARS = _ID_CHARS + 1 + _SIG_CHARS
_TAG_CHARS = TAG_BYTES * 4 // 3  # 6 bytes: exactly 8 characters, so the tag is a prefix of the id
# The last character of an unpadded base64 text carries unused low bits, which must be zero.
_ID_LAST = "AEIMQUYcgkosw048"  # 38 bytes: 2 unused bits
_SIG_LAST = "AQgw"  # 16 bytes: 4 unused bits
#: Cookies a codec remembers having verified (see :meth:`IdCodec.verify`).
VERIFIED_CACHE_SIZE = 4096
_COOKIE = re.compile(
    rf"[A-Za-z0-9_-]{{{_ID_CHARS - 1}}}[{_ID_LAST}]\.[A-Za-z0-9_-]{{{_SIG_CHARS - 1}}}[{_SIG_LAST}]"
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _derive(key: Secret, purpose: bytes) -> bytes:
    return hmac.new(key.reveal(), b"hasession/" + purpose, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class SessionId:
    """A verified session id: ``value`` goes in the cookie; ``tag`` and ``hashed`` go to Redis."""

    value: str
    tag: str
    hashed: str
    #: The cookie was signed with an older key: send it again, signed with the newest.
    resign: bool = field(default=False, compare=False)
    #: The cookie this id was verified from, when the newest key signed it: the codec that
    #: verified it (``signer``) returns it from :meth:`IdCodec.sign` instead of the same HMAC again.
    cookie: str | None = field(default=None, compare=False)
    signer: object = field(default=None, compare=False)

    def __repr__(self) -> str:  # never put the raw id in logs or tracebacks
        return f"SessionId(hashed={self.hashed[:12]!r}…)"


class IdCodec:
    """Makes, signs, verifies and hashes session ids with a list of keys, oldest first.

    The newest key signs; every key verifies, so keys can be rotated without logging anyone
    out, and a cookie signed with an older key is re-sent signed with the newest. The at-rest
    hash uses ``hash_key``, by default the *oldest* key, so adding keys never changes where a
    session is stored; set ``hash_key`` explicitly before retiring the oldest signing key.
    """

    __slots__ = ("_hasher", "_signers", "_token", "_verified")

    def __init__(self, keys: Sequence[Secret], *, hash_key: Secret | None = None) -> None:
        # HMAC objects keyed once; each use copies one (cheaper than keying a new one).
        self._signers = tuple(_prepared(_derive(k, b"cookie-signature")) for k in reversed(keys))
        self._hasher = _prepared(_derive(hash_key or keys[0], b"id-hash"))
        self._token = object()  # marks the ids this codec verified (see SessionId.cookie)
        self._verified: dict[str, SessionId] = {}  # cookie -> its id, for cookies that verified

    def new(self) -> SessionId:
        """A fresh random id with a fresh slot tag."""
        return self._make(secrets.token_bytes(TAG_BYTES))

    def cycle(self, old: SessionId) -> SessionId:
        """A fresh random id that keeps ``old``'s slot tag (same Cluster slot)."""
        tag = _unb64(old.tag)
        assert tag is not None
        return self._make(tag)

    def sign(self, sid: SessionId) -> str:
        """The cookie value for ``sid``."""
        if sid.cookie is not None and sid.signer is self._token:
            return sid.cookie
        return f"{sid.value}.{_b64(_mac(self._signers[0], sid.value)[:SIG_BYTES])}"

    def verify(self, cookie: str | None) -> SessionId | None:
        """The id a cookie carries, or ``None`` when it is missing, malformed, oversized or forged.

        A cookie that verified is remembered (the last :data:`VERIFIED_CACHE_SIZE` of them), so a
        returning browser costs a dict lookup instead of two HMACs. Only the exact cookie string
        that verified is found there: anything else, forged or not, is checked in full as before,
        in the same time. A hit is faster than a check, which tells only someone who already holds
        that valid cookie that it was used lately; lookups compare strings only on equal hashes,
        and ``str`` hashes are keyed per process, so no one steers a lookup to a cached cookie.
        """
        if not cookie or len(cookie) != MAX_COOKIE_CHARS:
            return None
        known = self._verified.get(cookie)
        if known is not None:
            return known
        sid = self._check(cookie)
        if sid is not None:
            self._remember(cookie, sid)
        return sid

    def _check(self, cookie: str) -> SessionId | None:
        if _COOKIE.fullmatch(cookie) is None:
            return None  # one spelling per id: other alphabets and unused low bits are refused
        value, signature = cookie[:_ID_CHARS], cookie[_ID_CHARS + 1 :]
        fresh = True
        for signer in self._signers:  # newest first: usually one HMAC
            if hmac.compare_digest(_b64(_mac(signer, value)[:SIG_BYTES]), signature):
                break
            fresh = False
        else:
            return None
        digest = _mac(self._hasher, value)
        return SessionId(
            value=value,
            tag=value[:_TAG_CHARS],
            hashed=_b64(digest),
            resign=not fresh,
            cookie=cookie if fresh else None,
            signer=self._token,
        )

    def _remember(self, cookie: str, sid: SessionId) -> None:
        """Keep ``cookie -> sid``, dropping the oldest entry when full (threads may race here: at
        worst an entry too many, or one dropped early)."""
        verified = self._verified
        if len(verified) >= VERIFIED_CACHE_SIZE:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another thread's change
                del verified[next(iter(verified))]
        verified[cookie] = sid

    def hash_user(self, user_id: str) -> str:
        """Keyed hash of a user id, for the per-user index key."""
        return _b64(_mac(self._hasher, "user:" + user_id)[:18])

    def _make(self, tag: bytes) -> SessionId:
        value = _b64(tag + secrets.token_bytes(SECRET_BYTES))
        return self._identify(value, tag)

    def _identify(self, value: str, tag: bytes) -> SessionId:
        return SessionId(value=value, tag=_b64(tag), hashed=_b64(_mac(self._hasher, value)))


def _prepared(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def _mac(prepared: hmac.HMAC, value: str) -> bytes:
    mac = prepared.copy()
    mac.update(value.encode())
    return mac.digest()
