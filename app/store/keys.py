"""The key layout: every Redis key and index member the service writes.

The repository builds every key from here; the resources, the data tools
and check-config borrow only the id and timestamp formats and the scratch
prefix, never a key.

Keys
----
``customer:<id>``
    One hash per customer, every value a plain string: ``name``, ``email``,
    ``phone``, ``address``, ``balance``, ``created_at``, ``updated_at``.
    ``<id>`` is a lowercase UUID. Hashes written by the original sample (the
    first five fields only) are read as they are. The two timestamps are
    stored as microseconds since 1970 in decimal (``1764318000123456``),
    which a small hash keeps as a 64-bit integer: MEMORY USAGE of a typical
    customer is 296 B against 360 B with RFC 3339 text. The API shows them
    as RFC 3339; text timestamps written by earlier versions read as before.
``customers:idempotency:{customer:<id>}``
    For a customer created with an ``Idempotency-Key``: what that request
    sent and got, kept 24 h. The hash tag puts it in the slot of
    ``customer:<id>`` (a key without braces hashes whole), so one script can
    check it and create the customer atomically; see ``create``.
``customers:index``
    A sorted set with every score 0, so members sort by bytes: each member is
    ``<created_at in microseconds, 16 digits>:<id>``. Byte order is creation
    order, and a page is ``ZRANGE customers:index (<last member> + BYLEX
    LIMIT 0 n``: O(log N + n), whatever the number of customers, on one key,
    so it works the same on a cluster as on one server.
``customers:check:<uuid>...``
    Scratch keys that ``flask customers check-config`` writes and deletes.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

INDEX_KEY = "customers:index"
SCRATCH_PREFIX = "customers:check:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # UTC, for display_timestamp
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SHOWN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_MEMBER = re.compile(r"^[0-9]{16}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class InvalidCursor(ValueError):
    """A listing cursor that this service did not hand out."""


def normalize_id(raw: str) -> str | None:
    """Return the canonical id, or None for anything that is not a UUID."""
    lowered = raw.lower()
    return lowered if _ID.match(lowered) else None


def customer_key(customer_id: str) -> str:
    return f"customer:{customer_id}"


def idempotency_key(customer_id: str) -> str:
    """In the slot of ``customer:<id>``: its hash tag is that whole key."""
    return f"customers:idempotency:{{{customer_key(customer_id)}}}"


def index_member(moment: datetime, customer_id: str) -> str:
    """``<microseconds since 1970, 16 digits>:<id>``: byte order is creation order."""
    return _member(_micros_since_epoch(moment), customer_id)


def member_for(stored_created_at: str, customer_id: str) -> str | None:
    """The index member of a hash with this stored ``created_at`` (None if unreadable)."""
    micros = _micros(stored_created_at)
    if micros is not None:  # the common case, without a datetime
        return _member(micros, customer_id)
    moment = parse_timestamp(stored_created_at)
    return None if moment is None else index_member(moment, customer_id)


def _member(micros: int, customer_id: str) -> str:
    return f"{micros:016d}:{customer_id}"


def id_of_member(member: str) -> str:
    return member.split(":", 1)[1]


def timestamp(moment: datetime) -> str:
    """The stored form: microseconds since 1970, in decimal."""
    return str(_micros_since_epoch(moment))


def _micros_since_epoch(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def parse_timestamp(text: str) -> datetime | None:
    """A stored timestamp, in either form (microseconds, or RFC 3339 from earlier versions)."""
    micros = _micros(text)
    if micros is not None:
        return _EPOCH + timedelta(microseconds=micros)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def display_timestamp(stored: str | None) -> str | None:
    """The API form, RFC 3339 UTC with microseconds; text other programs wrote is shown as it is."""
    micros = None if stored is None else _micros(stored)
    if micros is None:
        return stored
    # Naive UTC arithmetic and isoformat: twice as fast as strftime, and a page shows 200 of these.
    return (_NAIVE_EPOCH + timedelta(microseconds=micros)).isoformat(timespec="microseconds") + "Z"


def stored_forms(shown: str | None) -> tuple[str, str]:
    """The two stored timestamps that the API shows as ``shown``, tagged as lua/update.lua tags them.

    ``n`` is no timestamp (shown as null), ``m<microseconds>`` the stored
    form, ``t<text>`` text other programs wrote (shown as it is). Matching
    these in the update script, not here, keeps the check atomic with the write.
    """
    if shown is None:
        return "n", "n"
    micros = _shown_micros(shown)
    return "t" + shown, "t" + shown if micros is None else f"m{micros}"


def _shown_micros(shown: str) -> int | None:
    """The microseconds ``display_timestamp`` shows as exactly ``shown``, if any."""
    if not _SHOWN.fullmatch(shown):
        return None
    try:
        micros = (datetime.fromisoformat(shown[:-1]) - _NAIVE_EPOCH) // timedelta(microseconds=1)
    except ValueError:  # a day or an hour that does not exist
        return None
    # The round trip rules out what display_timestamp never writes (before 1970, after 2286).
    return micros if display_timestamp(str(micros)) == shown else None


def _micros(stored: str) -> int | None:
    """The microseconds of a timestamp in the stored form; None for any other text.

    At most 16 digits (until the year 2286): a longer number some other
    program wrote is text, not a date that would overflow.
    """
    if 0 < len(stored) <= 16 and stored.isdigit() and stored.isascii():
        return int(stored)
    return None


def encode_cursor(member: str) -> str:
    """Opaque to clients: the last index member of a page, base64url."""
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # binascii.Error, non-ASCII input, bad UTF-8
        raise InvalidCursor(cursor) from None
    if not _MEMBER.match(member):
        raise InvalidCursor(cursor)
    return member
