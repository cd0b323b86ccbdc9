"""Customers for DELETE runs to delete: every side its own, every run its own slice.

A DELETE of a missing customer is another code path (the sample answers 204
either way, the service 404), so every request of a DELETE run names a
customer that exists: each side gets customers of its own, split into one
slice per run, and delete.lua walks a slice without repeating an id. The
service's customers are written as it writes them (hash and index entry);
the others' are bare hashes, which one ``DEL`` removes whole. Slices are
sized for more req/s than any side reaches here; a run that still runs out
is flagged, not repeated. ``clean`` removes whatever is left.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

from redis.cluster import RedisCluster

from bench import dataset

# Customer numbers of the supplies: apart from the starting set, the growth and the memory probe.
SUPPLY_START = 10_000_000
# No side deletes faster than this here (the bare floor's best single-key rate on an idle
# machine is about 4,400/s), and the machine's load swings too much to size by earlier runs.
RATE_CEILING = 6_000.0
SPARE = 200


class Supply:
    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._next_number = SUPPLY_START
        self._slices: dict[str, deque[list[str]]] = {}
        self._made: list[tuple[int, int, bool]] = []  # (first number, count, indexed)
        self._files = 0

    @staticmethod
    def slice_size(rate: float, seconds: float) -> int:
        """Enough customers for ``seconds`` at ``rate`` req/s."""
        return math.ceil(rate * seconds) + SPARE

    def add(self, client: RedisCluster, side: str, sizes: list[int], indexed: bool) -> None:
        """Create customers for ``side``, one slice of each size, in the order its runs take them."""
        start, count = self._next_number, sum(sizes)
        self._next_number += count
        self._made.append((start, count, indexed))
        if indexed:
            dataset.load(client, start, count, f"customers for {side} to delete")
        else:
            dataset.write_hashes(client, start, count)
        ids = [customer.id for customer in dataset.make_customers(start, count)]
        queue = self._slices.setdefault(side, deque())
        for size in sizes:
            queue.append(ids[:size])
            ids = ids[size:]

    def take(self, side: str) -> Path:
        """A file of the next slice's ids, one a line, for delete.lua."""
        if not self._slices.get(side):
            raise RuntimeError(f"no customers left for {side} to delete: add() more first")
        self._files += 1
        path = self._workdir / f"delete-{side}-{self._files}.txt"
        path.write_text("\n".join(self._slices[side].popleft()) + "\n")
        return path

    def take_ids(self, side: str) -> list[str]:
        """The next slice's ids, for requests sent one at a time."""
        return self.take(side).read_text().split()

    def clean(self, client: RedisCluster) -> int:
        """Remove every customer made so far, deleted or not; return how many were made."""
        made = 0
        for start, count, indexed in self._made:
            dataset.remove(client, start, count, indexed)
            made += count
        self._made.clear()
        self._slices.clear()
        return made
