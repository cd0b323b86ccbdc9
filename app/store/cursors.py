"""Cursors, opaque to clients: the last index member of a page and its query, the last event of a poll.

A listing cursor is ``<member>`` for the plain listing (every customer,
oldest first: cursors handed out before filters existed stay valid) and
``<member>/<query>`` otherwise, where ``<query>`` is a digest of the
filters and order. A cursor used with another query is refused, so a walk
can never skip or repeat customers by changing its filters midway.

An event cursor is a feed stream id with a prefix, so that a listing cursor
given to ``/events`` (or the reverse) is recognised as not one of its own.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

from app.customers.model import Filters
from app.store.keys import email_lookup

_EVENT_PREFIX = "event:"
_STREAM_ID = re.compile(r"^[0-9]{1,15}-[0-9]{1,19}$")


class InvalidCursor(ValueError):
    """A cursor that this service did not hand out, or not for this query."""


def encode_cursor(member: str, filters: Filters) -> str:
    """The member and the query's digest in base64url, without padding."""
    return _encoded(member if filters.is_plain else f"{member}/{_digest(filters)}")


def decode_cursor(cursor: str, filters: Filters, is_member: Callable[[str], bool]) -> str:
    """The index member a cursor stands for; ``InvalidCursor`` if it is not one of ours for ``filters``."""
    member, _, digest = _decoded(cursor).partition("/")
    expected = "" if filters.is_plain else _digest(filters)
    if digest != expected or not is_member(member):
        raise InvalidCursor(cursor)
    return member


def encode_event_cursor(position: str) -> str:
    """A feed stream id as a cursor."""
    return _encoded(_EVENT_PREFIX + position)


def decode_event_cursor(cursor: str) -> str:
    """The feed stream id an event cursor stands for; ``InvalidCursor`` if it is not one of ours."""
    text = _decoded(cursor)
    position = text.removeprefix(_EVENT_PREFIX)
    if position == text or not _STREAM_ID.match(position):
        raise InvalidCursor(cursor)
    return position


def _digest(filters: Filters) -> str:
    email = "" if filters.email is None else email_lookup(filters.email)
    query = f"{email}\0{filters.descending}\0{filters.created_from}\0{filters.created_to}"
    return hashlib.sha256(query.encode()).hexdigest()[:12]


def _encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decoded(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # binascii.Error, non-ASCII input, bad UTF-8
        raise InvalidCursor(cursor) from None
