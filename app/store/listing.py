"""Pages of customers in creation order, read through ``customers:index`` or an email index.

Both indexes are sorted sets of members that begin ``<created_at, 16
digits>:<id>`` with every score 0, so one BYLEX range serves every query:
creation-time bounds are lex bounds, newest first is ``REV``, and a page
costs O(log N + page) whatever the number of customers.

A page reads the hashes a run of entries names, and counts an entry only if
its hash still agrees with it: for the listing index, the hash exists and
has the entry's ``created_at`` (an entry for a hash that is gone, or a
second entry left by a lost idempotent race, is skipped); for an email
index, the hash also holds the entry's ``email_token`` and an email with
this lookup form. A stale entry old enough that no request in flight can
still rely on it (``ORPHAN_GRACE_SECONDS``; its write time is its created_at
for the listing index, its token's time for an email index) is removed as
it is found; a younger one may belong to a write still in flight and is
left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from app.customers.model import Filters, Page, StoredCustomer
from app.store.client import Client
from app.store.cursors import decode_cursor, encode_cursor
from app.store.keys import (
    EMAIL_TOKEN,
    INDEX_KEY,
    customer_key,
    email_key,
    email_lookup,
    id_of_member,
    is_email_member,
    is_member,
    lex_bounds,
    member_for,
    split_email_member,
    token_micros,
)
from app.store.timestamps import micros_since_epoch

ORPHAN_GRACE_SECONDS = 60
_MAX_FILL_ROUNDS = 5


@dataclass(frozen=True)
class _Index:
    key: str
    is_member: Callable[[str], bool]
    # (member, its hash) -> whether the entry counts; (member) -> its write time in microseconds
    agrees: Callable[[str, dict[str, str]], bool]
    written_at: Callable[[str], int]


def read_page(
    client: Client, clock: Callable[[], datetime], limit: int, cursor: str | None, filters: Filters
) -> Page:
    """Up to ``limit`` customers matching ``filters``, after ``cursor``, in the filters' order."""
    index = _index_for(filters)
    after = decode_cursor(cursor, filters, index.is_member) if cursor else None
    if filters.is_empty:
        return Page([], None)
    low, high = lex_bounds(filters.created_from, filters.created_to)
    found: list[StoredCustomer] = []
    for _ in range(_MAX_FILL_ROUNDS):
        wanted = limit - len(found)
        if filters.descending:
            start, end = (f"({after}" if after else high), low
        else:
            start, end = (f"({after}" if after else low), high
        members = cast(
            list[str],
            client.zrange(
                index.key, start, end, desc=filters.descending, bylex=True, offset=0, num=wanted + 1
            ),
        )
        batch = members[:wanted]
        found.extend(_read_live(client, clock, index, batch))
        if batch:
            after = batch[-1]
        if len(members) <= wanted:
            return Page(found, None)
        if len(found) == limit:
            break
    # More entries remain (or stale entries kept us from filling the page in
    # a bounded number of rounds): the client continues from here.
    return Page(found, encode_cursor(after, filters) if after else None)


def _index_for(filters: Filters) -> _Index:
    if filters.email is None:
        return _Index(INDEX_KEY, is_member, _listed_under, lambda member: int(member[:16]))
    lookup = email_lookup(filters.email)

    def agrees(member: str, fields: dict[str, str]) -> bool:
        listing, token = split_email_member(member)
        return (
            fields.get(EMAIL_TOKEN) == token
            and email_lookup(fields.get("email", "")) == lookup
            and _listed_under(listing, fields)
        )

    return _Index(
        email_key(lookup), is_email_member, agrees, lambda member: token_micros(split_email_member(member)[1])
    )


def _read_live(
    client: Client, clock: Callable[[], datetime], index: _Index, members: list[str]
) -> list[StoredCustomer]:
    if not members:
        return []
    pipe = client.pipeline(transaction=False)
    for member in members:
        pipe.hgetall(customer_key(id_of_member(member)))
    live, stale = [], []
    cutoff = micros_since_epoch(clock() - timedelta(seconds=ORPHAN_GRACE_SECONDS))
    for member, fields in zip(members, pipe.execute(), strict=True):
        if fields and index.agrees(member, fields):
            live.append(StoredCustomer(id_of_member(member), fields))
        elif index.written_at(member) < cutoff:
            stale.append(member)
    if stale:
        client.zrem(index.key, *stale)
    return live


def _listed_under(member: str, fields: dict[str, str]) -> bool:
    """Whether this hash's created_at names this listing member (or cannot be read)."""
    customer_id = id_of_member(member)
    expected = member_for(fields.get("created_at", ""), customer_id)
    return expected is None or expected == member
