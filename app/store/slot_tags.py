"""One short hash tag per cluster slot: ``tag_of_slot(s)`` hashes to slot ``s``.

The outbox of a customer's changes lives in that customer's slot (a Lua
script is atomic only within one slot), and one outbox per slot keeps the set
of outbox keys bounded and known: ``customers:outbox:{<tag>}`` for each of the
16384 tags. The table (slot_tags.txt, line ``s`` is the tag of slot ``s``)
was found once by brute force over hexadecimal strings with redis-py's
``key_slot``; tests/unit/test_events.py checks every line.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from redis.crc import key_slot

SLOTS = 16384


@cache
def tags() -> tuple[str, ...]:
    """The 16384 tags, in slot order."""
    return tuple(Path(__file__).with_name("slot_tags.txt").read_text().split())


def tag_of_slot(slot: int) -> str:
    return tags()[slot]


def tag_for(key: str) -> str:
    """The tag that puts a key in the slot of ``key``."""
    return tags()[key_slot(key.encode())]
