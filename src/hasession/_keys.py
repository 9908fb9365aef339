"""Redis key names. Every key of one session shares the ``{tag}`` hash tag, hence one slot."""

from __future__ import annotations

from dataclasses import dataclass

from ._ids import SessionId

__all__ = ["KeySchema"]


@dataclass(frozen=True, slots=True)
class KeySchema:
    """Builds key names under ``prefix``.

    - ``<prefix>:{<tag>}:<hash>``   the session hash: one field per top-level key, plus metadata
                                    (or, once destroyed, its tombstone ``{"@d": 1}``)
    - ``<prefix>:u:{<user hash>}``  sorted set of a user's sessions, scored by absolute expiry
    """

    prefix: str = "hs"

    def data(self, sid: SessionId) -> str:
        return self.data_for(sid.tag, sid.hashed)

    def data_for(self, tag: str, hashed: str) -> str:
        return f"{self.prefix}:{{{tag}}}:{hashed}"

    def user_index(self, user_hash: str) -> str:
        return f"{self.prefix}:u:{{{user_hash}}}"

    def public_id(self, sid: SessionId) -> str:
        """An id safe to show and log (it cannot be turned into a cookie): ``<tag>.<hash>``."""
        return f"{sid.tag}.{sid.hashed}"

    def data_for_public(self, public_id: str) -> str:
        tag, _, hashed = public_id.partition(".")
        return self.data_for(tag, hashed)
