"""Pages of customers in creation order, read through ``customers:index``.

A page reads the hashes a run of index entries names, and counts an entry
only if its hash exists and has the entry's ``created_at``: an entry for a
hash that is gone, or a second entry left by a lost idempotent race, is
skipped. An entry older than ``ORPHAN_GRACE_SECONDS`` with no hash is an
orphan left by a crash between the two writes of a create or a delete (no
request lives that long) and is removed as it is found; a younger one may
belong to a create still in flight and is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from app.customers.model import Page, StoredCustomer
from app.store.client import Client
from app.store.cursors import decode_cursor, encode_cursor
from app.store.keys import INDEX_KEY, customer_key, id_of_member, index_member, member_for

ORPHAN_GRACE_SECONDS = 60
_MAX_FILL_ROUNDS = 5


def read_page(client: Client, clock: Callable[[], datetime], limit: int, cursor: str | None) -> Page:
    """Up to ``limit`` customers created after ``cursor``, oldest first."""
    after = decode_cursor(cursor) if cursor else None
    found: list[StoredCustomer] = []
    for _ in range(_MAX_FILL_ROUNDS):
        wanted = limit - len(found)
        start = f"({after}" if after else "-"
        members = cast(list[str], client.zrange(INDEX_KEY, start, "+", bylex=True, offset=0, num=wanted + 1))
        batch = members[:wanted]
        found.extend(_read_live(client, clock, batch))
        if batch:
            after = batch[-1]
        if len(members) <= wanted:
            return Page(found, None)
        if len(found) == limit:
            break
    # More entries remain (or orphans kept us from filling the page in a
    # bounded number of rounds): the client continues from here.
    return Page(found, encode_cursor(after) if after else None)


def _read_live(client: Client, clock: Callable[[], datetime], members: list[str]) -> list[StoredCustomer]:
    if not members:
        return []
    pipe = client.pipeline(transaction=False)
    for member in members:
        pipe.hgetall(customer_key(id_of_member(member)))
    live, stale = [], []
    cutoff = index_member(clock() - timedelta(seconds=ORPHAN_GRACE_SECONDS), "")
    for member, fields in zip(members, pipe.execute(), strict=True):
        customer_id = id_of_member(member)
        if fields and _belongs_under(member, fields, customer_id):
            live.append(StoredCustomer(customer_id, fields))
        elif member < cutoff:
            stale.append(member)
    if stale:
        client.zrem(INDEX_KEY, *stale)
    return live


def _belongs_under(member: str, fields: dict[str, str], customer_id: str) -> bool:
    """Whether this hash's created_at names this index entry (or cannot be read)."""
    expected = member_for(fields.get("created_at", ""), customer_id)
    return expected is None or expected == member
