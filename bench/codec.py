"""Which JSON library encodes session values fastest: orjson, msgspec or the standard library.

    .venv/bin/python bench/codec.py

Session-shaped data: a handful of small top-level values (ids, flags, a short list, a nested
dict), each encoded on its own, as hasession stores one hash field per key. Not a test.
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

SESSION: dict[str, Any] = {
    "user_id": "8f14e45f-ceea-467f-a0e6-1b3c2e8a9d55",
    "csrf": "d2f1c3b4a5968778695a4b3c2d1e0f9a",
    "cart": [{"sku": f"SKU-{i}", "qty": i, "price": 9.99 * i} for i in range(5)],
    "prefs": {"theme": "dark", "lang": "en-GB", "tz": "Europe/London", "beta": True},
    "flash": ["Saved.", "Welcome back!"],
    "count": 1234,
}

ENCODERS: dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    "orjson": (orjson.dumps, orjson.loads),
    "msgspec": (msgspec.json.encode, msgspec.json.decode),
    "json (stdlib)": (lambda v: json.dumps(v, separators=(",", ":")).encode(), json.loads),
}


def per_session(encode: Callable[[Any], bytes], decode: Callable[[bytes], Any]) -> tuple[float, float]:
    encoded = {k: encode(v) for k, v in SESSION.items()}
    number = 20_000
    enc = timeit.timeit(lambda: [encode(v) for v in SESSION.values()], number=number) / number
    dec = timeit.timeit(lambda: [decode(b) for b in encoded.values()], number=number) / number
    return enc, dec


def main() -> None:
    results = {name: per_session(*pair) for name, pair in ENCODERS.items()}
    best_enc = min(e for e, _ in results.values())
    best_dec = min(d for _, d in results.values())
    print("one session, each key on its own:")
    print(f"{'library':14} {'encode µs':>10} {'ratio':>6} {'decode µs':>10} {'ratio':>6}")
    for name, (enc, dec) in results.items():
        print(
            f"{name:14} {enc * 1e6:>10.2f} {enc / best_enc:>6.2f} {dec * 1e6:>10.2f} {dec / best_dec:>6.2f}"
        )


if __name__ == "__main__":
    main()
