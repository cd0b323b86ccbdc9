"""The slot fields of a CLUSTER NODES line ("0-5460", "5461", "[93->-<id>]")."""

from __future__ import annotations

from collections.abc import Iterable


def is_open(spec: str) -> bool:
    """A slot being migrated or imported (in brackets): not counted as served."""
    return spec.startswith("[")


def slot_ranges(specs: Iterable[str]) -> list[range]:
    """The slots a node serves, one range per field that is not open."""
    ranges = []
    for spec in specs:
        if not is_open(spec):
            first, _, last = spec.partition("-")
            ranges.append(range(int(first), int(last or first) + 1))
    return ranges


def slot_count(specs: Iterable[str]) -> int:
    return sum(len(served) for served in slot_ranges(specs))


def first_slot(specs: Iterable[str]) -> int:
    return min(served.start for served in slot_ranges(specs))


def serves(specs: Iterable[str], slot: int) -> bool:
    return any(slot in served for served in slot_ranges(specs))
