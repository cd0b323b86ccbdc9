"""The types of a customer's fields, as the API accepts them (pydantic annotations).

Each says what it accepts in words a client can act on, and how it appears
in the JSON Schema of the OpenAPI document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, EmailStr, Field, StringConstraints, WithJsonSchema

from app.customers.model import MAX_METADATA_KEYS

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# JSON's \ud800-style escapes can smuggle lone surrogates, which no UTF-8 store can hold.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_PHONE = re.compile(r"[0-9 +\-().]{1,32}")
_METADATA_KEY = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_METADATA_VALUE_LENGTH = 500


def _text(value: str) -> str:
    if _SURROGATE.search(value):
        raise ValueError("must be valid Unicode text (no lone surrogates)")
    return value


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return _text(value)


def _no_control_characters_but_line_breaks(value: str) -> str:
    if _CONTROL_BUT_LINE_BREAKS.search(value):
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return _text(value)


def _phone(value: str) -> str:
    # Checked here rather than as a pattern, so the client reads words, not a regular expression.
    if not _PHONE.fullmatch(value):
        raise ValueError("must be 1-32 characters of digits, spaces and + - ( ) .")
    return value


def _metadata_key(value: str) -> str:
    if not _METADATA_KEY.fullmatch(value):
        raise ValueError("a metadata key must be 1-40 characters of A-Z a-z 0-9 _ - .")
    return value


def _metadata_value(value: str) -> str:
    if not 1 <= len(value) <= _METADATA_VALUE_LENGTH:
        raise ValueError(f"must be a string of 1-{_METADATA_VALUE_LENGTH} characters")
    return _no_control_characters_but_line_breaks(value)


def _at_most_max_keys(value: dict[str, str | None]) -> dict[str, str | None]:
    # Only the keys set: a patch may remove any number (null values).
    if sum(v is not None for v in value.values()) > MAX_METADATA_KEYS:
        raise ValueError(f"must have at most {MAX_METADATA_KEYS} keys")
    return value


def _json_number(value: Any) -> Any:
    # Only JSON numbers: the codec hands us int or Decimal, never float.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a JSON number")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_characters),
    Field(json_schema_extra={"pattern": r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"}),
]
Email = Annotated[EmailStr, StringConstraints(max_length=254), AfterValidator(_text)]
Phone = Annotated[str, AfterValidator(_phone), Field(json_schema_extra={"pattern": f"^{_PHONE.pattern}$"})]
Address = Annotated[
    str,
    StringConstraints(max_length=500),
    AfterValidator(_no_control_characters_but_line_breaks),
    Field(json_schema_extra={"pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"}),
]
_BALANCE_LIMIT = 10**15
# 15 integer digits and 2 fractional ones: |balance| < 10^15, in cents.
Balance = Annotated[
    Decimal,
    BeforeValidator(_json_number),
    Field(max_digits=17, decimal_places=2),
    WithJsonSchema(
        {
            "type": "number",
            "minimum": -_BALANCE_LIMIT,
            "maximum": _BALANCE_LIMIT,
            "description": "Exact decimal with at most 2 fractional digits.",
        }
    ),
]


def _trimmed(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# The address of a lookup: trimmed, then validated and normalised like a stored email.
LookupEmail = Annotated[Email, BeforeValidator(_trimmed)]

_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.([0-9]+))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Instant:
    """A moment given in a query: the whole microseconds at or before it, and at or after it."""

    floor: int
    ceiling: int


def _instant(value: Any) -> Instant:
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"must be {_MOMENT}")
    date, clock, fraction, offset = match.groups()
    try:
        moment = datetime.fromisoformat(f"{date}T{clock}{'+00:00' if offset in 'Zz' else offset}")
    except ValueError:
        raise ValueError(f"must be {_MOMENT} (this date or time does not exist)") from None
    fraction = fraction or ""
    micros = (moment - _EPOCH) // timedelta(microseconds=1) + int(fraction[:6].ljust(6, "0"))
    beyond = fraction[6:].strip("0") != ""  # nanoseconds and finer: between two microseconds
    return Instant(micros, micros + 1 if beyond else micros)


_MOMENT = "an RFC 3339 timestamp (Z or an offset, fractional seconds allowed)"
Moment = Annotated[
    Instant,
    BeforeValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


_ECHOED = "Read-only: accepted only if equal to the stored value, so that a GET body can be sent back."
EchoedId = Annotated[
    str,
    AfterValidator(_text),
    WithJsonSchema(
        {
            "type": "string",
            "format": "uuid",
            "readOnly": True,
            "description": "Read-only: accepted only if it is this customer's id (in any case).",
        }
    ),
]
EchoedTimestamp = Annotated[
    Annotated[str, AfterValidator(_text)] | None,
    WithJsonSchema(
        {"type": ["string", "null"], "format": "date-time", "readOnly": True, "description": _ECHOED}
    ),
]


# Another system's ids and tags, kept as given: string values under short keys.
_METADATA_KEY_SCHEMA = {"pattern": f"^{_METADATA_KEY.pattern}$"}
_METADATA_VALUE_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": _METADATA_VALUE_LENGTH,
    "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
}
MetadataKey = Annotated[str, AfterValidator(_metadata_key)]
MetadataValue = Annotated[str, AfterValidator(_metadata_value)]
Metadata = Annotated[
    dict[MetadataKey, MetadataValue],
    AfterValidator(_at_most_max_keys),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_METADATA_KEYS,
            "propertyNames": _METADATA_KEY_SCHEMA,
            "additionalProperties": _METADATA_VALUE_SCHEMA,
            "description": f"At most {MAX_METADATA_KEYS} string values under keys of 1-40 characters "
            "of A-Z a-z 0-9 _ - .",
        }
    ),
]
MetadataPatch = Annotated[
    dict[MetadataKey, MetadataValue | None],
    AfterValidator(_at_most_max_keys),
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": _METADATA_KEY_SCHEMA,
            "additionalProperties": {**_METADATA_VALUE_SCHEMA, "type": ["string", "null"]},
            "description": "Merged key by key: a string sets a key, null removes it; null for the "
            f"whole object removes every key. At most {MAX_METADATA_KEYS} keys afterwards.",
        }
    ),
]
