"""Cursors, opaque to clients: the last index member of a page, the last event of a poll.

An event cursor is a feed stream id with a prefix, so that a listing cursor
given to ``/events`` (or the reverse) is recognised as not one of its own.
"""

from __future__ import annotations

import base64
import re

from app.store.keys import is_member

_EVENT_PREFIX = "event:"
_STREAM_ID = re.compile(r"^[0-9]{1,15}-[0-9]{1,19}$")


class InvalidCursor(ValueError):
    """A listing cursor that this service did not hand out."""


def encode_cursor(member: str) -> str:
    """The member in base64url, without padding."""
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The index member a cursor stands for; ``InvalidCursor`` if it is not one of ours."""
    member = _decoded(cursor)
    if not is_member(member):
        raise InvalidCursor(cursor)
    return member


def encode_event_cursor(position: str) -> str:
    """A feed stream id as a cursor."""
    return encode_cursor(_EVENT_PREFIX + position)


def decode_event_cursor(cursor: str) -> str:
    """The feed stream id an event cursor stands for; ``InvalidCursor`` if it is not one of ours."""
    text = _decoded(cursor)
    position = text.removeprefix(_EVENT_PREFIX)
    if position == text or not _STREAM_ID.match(position):
        raise InvalidCursor(cursor)
    return position


def _decoded(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # binascii.Error, non-ASCII input, bad UTF-8
        raise InvalidCursor(cursor) from None
