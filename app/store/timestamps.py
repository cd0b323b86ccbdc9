"""The stored timestamps (``created_at``, ``updated_at``) and how the API shows them.

Stored as microseconds since 1970 in decimal (``1764318000123456``), which a
small Redis hash keeps as a 64-bit integer; shown as RFC 3339 UTC with
microseconds. Text timestamps written by earlier versions (RFC 3339) or by
other programs are read as they are.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # UTC, for display_timestamp
_SHOWN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def timestamp(moment: datetime) -> str:
    """The stored form: microseconds since 1970, in decimal."""
    return str(micros_since_epoch(moment))


def micros_since_epoch(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def stored_micros(stored: str) -> int | None:
    """The microseconds of a timestamp in the stored form; None for any other text.

    At most 16 digits (until the year 2286): a longer number some other
    program wrote is text, not a date that would overflow.
    """
    if 0 < len(stored) <= 16 and stored.isdigit() and stored.isascii():
        return int(stored)
    return None


def parse_timestamp(text: str) -> datetime | None:
    """A stored timestamp, in either form (microseconds, or RFC 3339 from earlier versions)."""
    micros = stored_micros(text)
    if micros is not None:
        return _EPOCH + timedelta(microseconds=micros)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def display_timestamp(stored: str | None) -> str | None:
    """The API form, RFC 3339 UTC with microseconds; text other programs wrote is shown as it is."""
    micros = None if stored is None else stored_micros(stored)
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
