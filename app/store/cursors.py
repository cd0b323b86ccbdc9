"""Listing cursors: the last index member of a page and the query it belongs to, opaque to clients.

A cursor is ``<member>`` for the plain listing (every customer, oldest
first: cursors handed out before filters existed stay valid) and
``<member>/<query>`` otherwise, where ``<query>`` is a digest of the
filters and order. A cursor used with another query is refused, so a walk
can never skip or repeat customers by changing its filters midway.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from app.customers.model import Filters
from app.store.keys import email_lookup


class InvalidCursor(ValueError):
    """A listing cursor that this service did not hand out, or not for this query."""


def encode_cursor(member: str, filters: Filters) -> str:
    """The member and the query's digest in base64url, without padding."""
    text = member if filters.is_plain else f"{member}/{_digest(filters)}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, filters: Filters, is_member: Callable[[str], bool]) -> str:
    """The index member a cursor stands for; ``InvalidCursor`` if it is not one of ours for ``filters``."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # binascii.Error, non-ASCII input, bad UTF-8
        raise InvalidCursor(cursor) from None
    member, _, digest = text.partition("/")
    expected = "" if filters.is_plain else _digest(filters)
    if digest != expected or not is_member(member):
        raise InvalidCursor(cursor)
    return member


def _digest(filters: Filters) -> str:
    email = "" if filters.email is None else email_lookup(filters.email)
    query = f"{email}\0{filters.descending}\0{filters.created_from}\0{filters.created_to}"
    return hashlib.sha256(query.encode()).hexdigest()[:12]
