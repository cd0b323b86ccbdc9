"""The key layout: every Redis key and index member the service writes.

This is the one module that knows it; the repository, the maintenance
commands and check-config build every key and member from here.

Keys
----
``customer:<id>``
    One hash per customer, every value a plain string: ``name``, ``email``,
    ``phone``, ``address``, ``balance``, ``created_at``, ``updated_at``
    (``SERVICE_FIELDS``), and ``email_token`` while it has an email (the
    email index entry that names it, see below). ``<id>`` is a lowercase UUID. Hashes written by the
    original sample (the first five fields only) are read as they are. The
    two timestamps are stored as microseconds since 1970 in decimal
    (``1764318000123456``, see timestamps.py), which a small hash keeps as a
    64-bit integer: MEMORY USAGE of a typical customer is 296 B against 360 B
    with RFC 3339 text. Text timestamps written by earlier versions read as before.

    Metadata is one more field per key, ``metadata.<key>`` (``METADATA_PREFIX``),
    so ``HGETALL`` shows each entry as it is, a merge by key is HSET and HDEL
    of those fields (lua/update.lua), and a customer without metadata (every
    hash the sample or earlier versions wrote) has no such field and shows
    ``{}``. Each entry costs about 45 B: MEMORY USAGE of a typical customer
    (Redis 7.0, values of about 20 characters) is 328 B with no metadata,
    552 B with 5 keys and 2,664 B with 50, the hash still a listpack. One
    JSON text field would cost as much at 50 keys but 912 B at 5, since a
    value over ``hash-max-listpack-value`` (64 B) turns the whole hash into a
    hashtable; so does one metadata value that long (1,288 B with 5 keys).
``customers:idempotency:{customer:<id>}``
    For a customer created with an ``Idempotency-Key``: what that request
    sent and got, kept 24 h. The hash tag puts it in the slot of
    ``customer:<id>`` (a key without braces hashes whole), so one script can
    check it and create the customer atomically (lua/create_idempotent.lua).
``customers:index``
    A sorted set with every score 0, so members sort by bytes: each member is
    ``<created_at in microseconds, 16 digits>:<id>``. Byte order is creation
    order, and a page is ``ZRANGE customers:index (<last member> + BYLEX
    LIMIT 0 n``: O(log N + n), whatever the number of customers, on one key,
    so it works the same on a cluster as on one server.
``customers:email:<address>``
    The email index: one sorted set per address, named by the address
    trimmed and lowercased whole (``email_lookup``), every score 0. Each
    member is ``<created_at, 16 digits><id without dashes><token>`` (64
    bytes, so a small set stays a listpack), so the same BYLEX paging, order
    and creation-time bounds work as on ``customers:index``. ``<token>``
    (``<write time in seconds, 10 digits><6 random hex digits>``)
    is unique per write that gave the customer this email, and the hash
    keeps it as ``email_token``: an entry counts only while its hash holds
    its token and its address, and a writer removes only the one member it
    knows is stale (see docs/consistency.md for why that makes races safe).
``customers:email-claim:<address>``
    With ``UNIQUE_EMAILS=true``: a string ``<id>:<email_token>`` naming the
    one customer that may have this address (lowercased whole). A write
    claims it (lua/claim.lua) before it indexes the email; a delete frees it
    (lua/release.lua). A claim whose holder no longer has the address is
    stale and may be taken over (see email_claims.py).
``customers:outbox:{<tag>}``
    One stream per cluster slot (``<tag>`` hashes to that slot, see
    slot_tags.py): the events of the customers of that slot, written by the
    same script as each change (lua/create.lua, update.lua, delete.lua), until
    the relay has copied them into the feed. Each entry: ``type``
    (``created``, ``updated``, ``deleted``), ``customer`` (the id) and
    ``fields`` (the stored hash after the change, before it for a delete, as
    a JSON object). Usually empty.
``customers:events``
    The feed: one stream of every event, in the order the relay appended
    them (docs/events.md). Each entry: ``id`` (the event id,
    ``<slot>-<outbox entry id>``, stable), ``type``, ``customer``, ``at``
    (milliseconds since 1970 when the change was applied, by the clock of its
    shard) and ``fields`` (as in the outbox).
``customers:events:marks:{customers:events}``
    A hash in the feed's slot: per outbox key, the id of the last outbox
    entry appended to the feed (so a second relay of it appends nothing);
    ``durable``, the last feed entry readers may see; ``trimmed``, the last
    feed entry that retention removed (a cursor before it is gone: 410).
``customers:events:sweep:{customers:events}``
    A lease (SET NX PX): the one process that checks every outbox now.
``customers:check:<uuid>...``
    Scratch keys that ``flask customers check-config`` writes and deletes.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from app.store.slot_tags import SLOTS, tag_for, tag_of_slot
from app.store.timestamps import micros_since_epoch, parse_timestamp, stored_micros, timestamp

INDEX_KEY = "customers:index"
EMAIL_PREFIX = "customers:email:"
CLAIM_PREFIX = "customers:email-claim:"
EMAIL_TOKEN = "email_token"  # noqa: S105 (a field name, not a secret)
SCRATCH_PREFIX = "customers:check:"
CUSTOMER_PREFIX = "customer:"
FEED_KEY = "customers:events"
MARKS_KEY = "customers:events:marks:{customers:events}"
SWEEP_LEASE_KEY = "customers:events:sweep:{customers:events}"
OUTBOX_PREFIX = "customers:outbox:"
METADATA_PREFIX = "metadata."
SERVICE_FIELDS = ("name", "email", "phone", "address", "balance", "created_at", "updated_at")
_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_MEMBER = re.compile(rf"^[0-9]{{16}}:{_ID}$")
_EMAIL_MEMBER = re.compile(r"^[0-9]{16}[0-9a-f]{32}[0-9]{10}[0-9a-f]{6}$")
_LARGEST_MICROS = 10**16 - 1


def customer_key(customer_id: str) -> str:
    return f"{CUSTOMER_PREFIX}{customer_id}"


def metadata_field(key: str) -> str:
    """The hash field that holds the metadata entry ``key``."""
    return METADATA_PREFIX + key


def is_metadata_field(name: str) -> bool:
    return name.startswith(METADATA_PREFIX)


def metadata_of(fields: dict[str, str]) -> dict[str, str]:
    """The metadata entries of a stored hash, by key in byte order."""
    return {
        name.removeprefix(METADATA_PREFIX): fields[name] for name in sorted(fields) if is_metadata_field(name)
    }


def idempotency_key(customer_id: str) -> str:
    """In the slot of ``customer:<id>``: its hash tag is that whole key."""
    return f"customers:idempotency:{{{customer_key(customer_id)}}}"


def outbox_key(customer_id: str) -> str:
    """The outbox of ``customer:<id>``'s slot: one script can change the hash and add its event."""
    return f"{OUTBOX_PREFIX}{{{tag_for(customer_key(customer_id))}}}"


def outbox_keys() -> list[str]:
    """Every outbox key, one per slot, in slot order."""
    return [f"{OUTBOX_PREFIX}{{{tag_of_slot(slot)}}}" for slot in range(SLOTS)]


def index_member(moment: datetime, customer_id: str) -> str:
    """``<microseconds since 1970, 16 digits>:<id>``: byte order is creation order."""
    return _member(micros_since_epoch(moment), customer_id)


def member_for(stored_created_at: str, customer_id: str) -> str | None:
    """The index member of a hash with this stored ``created_at`` (None if unreadable)."""
    micros = stored_micros(stored_created_at)
    if micros is not None:  # the common case, without a datetime
        return _member(micros, customer_id)
    moment = parse_timestamp(stored_created_at)
    return None if moment is None else index_member(moment, customer_id)


def is_member(text: str) -> bool:
    """Whether ``text`` has the form of an index member."""
    return _MEMBER.match(text) is not None


def id_of_member(member: str) -> str:
    """The id in a listing or an email index member."""
    if member[16:17] == ":":
        return member.split(":", 2)[1]
    hexid = member[16:48]
    return f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}"


def _member(micros: int, customer_id: str) -> str:
    return f"{micros:016d}:{customer_id}"


def new_hash(fields: dict[str, str], moment: datetime) -> dict[str, str]:
    """The hash of a customer created at ``moment``: its fields and both timestamps."""
    stamp = timestamp(moment)
    return {**fields, "created_at": stamp, "updated_at": stamp}


def email_lookup(email: str) -> str:
    """The form addresses are compared in: trimmed, lowercased whole."""
    return email.strip().lower()


def email_key(email: str) -> str:
    """The email index of the customers whose email is ``email`` (in any case)."""
    return f"{EMAIL_PREFIX}{email_lookup(email)}"


def claim_key(email: str) -> str:
    """The claim on ``email`` (in any case), with UNIQUE_EMAILS."""
    return f"{CLAIM_PREFIX}{email_lookup(email)}"


def claim_value(customer_id: str, token: str) -> str:
    return f"{customer_id}:{token}"


def split_claim(value: str) -> tuple[str, str]:
    """(id, token) of a claim's value."""
    customer_id, _, token = value.rpartition(":")
    return customer_id, token


def new_token(moment: datetime) -> str:
    """A fresh ``email_token``: the write's time in seconds (10 digits), then 24 random bits."""
    return f"{micros_since_epoch(moment) // 1_000_000:010d}{secrets.token_hex(3)}"


def email_member(listing_member: str, token: str) -> str:
    """``<created_at, 16 digits><id, 32 hex digits><token>``: 64 bytes, the listing member's order.

    At most 64 bytes, so that a small set stays a listpack
    (``zset-max-listpack-value``): a 76-byte member made each one-customer
    set a skiplist of 1,032 B instead of 152 B.
    """
    created, customer_id = listing_member.split(":", 1)
    return f"{created}{customer_id.replace('-', '')}{token}"


def is_email_member(text: str) -> bool:
    """Whether ``text`` has the form of an email index member."""
    return _EMAIL_MEMBER.match(text) is not None


def split_email_member(member: str) -> tuple[str, str]:
    """(listing member, token) of an email index member."""
    return f"{member[:16]}:{id_of_member(member)}", member[48:]


def token_micros(token: str) -> int:
    """When (to the second) the write that made ``token`` ran, in microseconds since 1970."""
    return int(token[:10]) * 1_000_000


def lex_bounds(created_from: int | None, created_to: int | None) -> tuple[str, str]:
    """BYLEX bounds (min, max) of members created in [from, to] microseconds (None: open)."""
    low = "-" if created_from is None else f"[{max(created_from, 0):016d}"
    if created_to is None or created_to >= _LARGEST_MICROS:
        return low, "+"
    return low, f"({max(created_to + 1, 0):016d}"
