"""Listing cursors: the last index member of a page, opaque to clients."""

from __future__ import annotations

import base64

from app.store.keys import is_member


class InvalidCursor(ValueError):
    """A listing cursor that this service did not hand out."""


def encode_cursor(member: str) -> str:
    """The member in base64url, without padding."""
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The index member a cursor stands for; ``InvalidCursor`` if it is not one of ours."""
    try:
        member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # binascii.Error, non-ASCII input, bad UTF-8
        raise InvalidCursor(cursor) from None
    if not is_member(member):
        raise InvalidCursor(cursor)
    return member
