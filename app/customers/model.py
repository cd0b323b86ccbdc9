"""What the service knows of a customer: a stored hash, its version, and what can go wrong.

The repository (app/store/repository.py) returns these and raises these; the
HTTP layer maps the exceptions to statuses in one place (app/api/errors.py).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

MAX_METADATA_KEYS = 50
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def normalize_id(raw: str) -> str | None:
    """Return the canonical id (a lowercase UUID), or None for anything that is not a UUID."""
    lowered = raw.lower()
    return lowered if _ID.match(lowered) else None


@dataclass(frozen=True)
class StoredCustomer:
    id: str
    fields: dict[str, str]

    @functools.cached_property
    def etag(self) -> str:
        return etag_of(self.fields)


@dataclass(frozen=True)
class Created:
    customer: StoredCustomer
    replayed: bool  # True when an Idempotency-Key retry got the original back


@dataclass(frozen=True)
class Idempotency:
    """An ``Idempotency-Key`` and the request it stands for."""

    scope: str  # whose key it is: keys of different clients never meet
    key: str
    fingerprint: str  # of the validated body: same key, other body is refused


@dataclass(frozen=True)
class Filters:
    """What a listing asks for besides its page: an email, an order, a creation-time range.

    ``email`` is the address as given (compared trimmed and lowercased);
    ``created_from`` and ``created_to`` are inclusive bounds in microseconds
    since 1970 (None: open).
    """

    email: str | None = None
    descending: bool = False
    created_from: int | None = None
    created_to: int | None = None

    @property
    def is_plain(self) -> bool:
        """The listing as it always was: every customer, oldest first."""
        return self == Filters()

    @property
    def is_empty(self) -> bool:
        """Whether the range excludes everything."""
        return (
            self.created_from is not None
            and self.created_to is not None
            and self.created_from > self.created_to
        )


@dataclass(frozen=True)
class Page:
    customers: list[StoredCustomer]
    next_cursor: str | None


class CustomerNotFound(LookupError):
    """No customer has this id."""


class PreconditionFailed(Exception):
    """``If-Match`` named a version that is not the current one."""

    def __init__(self, current_etag: str) -> None:
        super().__init__(current_etag)
        self.current_etag = current_etag


class ReadOnlyFieldDiffers(Exception):
    """A read-only field sent in an update is not the stored value."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class EmailTaken(Exception):
    """With UNIQUE_EMAILS: another existing customer has this email."""


class EmailChangeContended(Exception):
    """Other writes kept changing this customer's email while this one tried to."""


class TooManyMetadataKeys(Exception):
    """A write would leave a customer with more than ``MAX_METADATA_KEYS`` metadata keys."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


class IdempotencyKeyReused(Exception):
    """The key was used with another body, or for a request older than 24 h."""


def etag_of(fields: dict[str, str]) -> str:
    """A strong validator of the stored hash, whoever wrote it (see app/store/lua/etag.lua)."""
    canonical = "".join(f"{len(k.encode())}:{k}{len(v.encode())}:{v}" for k, v in sorted(fields.items()))
    return hashlib.sha1(canonical.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class StoredEvent:
    """One entry of the feed: a change as it was recorded (app/store/keys.py, ``customers:events``)."""

    position: str  # its feed stream id: what a cursor names
    id: str
    type: str  # created, updated, deleted
    customer_id: str
    at_ms: int  # when the change was applied, by its shard's clock
    fields: dict[str, str]  # the stored hash after the change (before it, for a delete)


@dataclass(frozen=True)
class EventPage:
    events: list[StoredEvent]
    next_cursor: str  # after the last event read (or where the poll started): poll from there


class EventsExpired(Exception):
    """Retention removed events after the cursor: the consumer must resynchronise."""
