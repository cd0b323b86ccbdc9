"""What a customer is: the validated input models and the JSON representation.

Stored values are plain strings in one Redis hash per customer, the same
five fields the original sample wrote (``name``, ``email``, ``phone``,
``address``, ``balance``) plus ``created_at`` and ``updated_at``. Reading is
lenient, so hashes written by the sample or by hand are still served.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from app.store.keys import display_timestamp, normalize_id

READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at"})
READ_ONLY_DIFFERS = "is read-only and differs from the stored value"
OPTIONAL_FIELDS = ("email", "phone", "address")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# JSON's \ud800-style escapes can smuggle lone surrogates, which no UTF-8 store can hold.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_PHONE = re.compile(r"[0-9 +\-().]{1,32}")


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


class CustomerCreate(BaseModel):
    """The body of ``POST /customers``."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    email: Email | None = None
    phone: Phone | None = None
    address: Address | None = None
    balance: Balance = Field(Decimal(0), json_schema_extra={"default": 0})


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


def _without_defaults(schema: dict[str, Any]) -> None:
    # A merge patch has no defaults: a field left out is left as it is. The
    # Python default (None) would read as one, and null is no valid name.
    for field in schema["properties"].values():
        field.pop("default", None)


class CustomerPatch(BaseModel):
    """The body of ``PUT`` and ``PATCH``: a JSON Merge Patch (null removes a field)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_defaults)

    # Not Optional: null cannot remove the name, so it fails like any non-string.
    name: Name = None  # type: ignore[assignment]
    email: Email | None = None
    phone: Phone | None = None
    address: Address | None = None
    balance: Balance | None = None
    id: EchoedId = None  # type: ignore[assignment]
    created_at: EchoedTimestamp = None
    updated_at: EchoedTimestamp = None


class CustomerView(BaseModel):
    """A stored customer. Optional fields that are not set are null.

    Values written by other programs are served as stored, so this schema is
    looser than the input schemas.
    """

    id: Annotated[str, Field(json_schema_extra={"format": "uuid"})]
    name: str | None
    email: str | None
    phone: str | None
    address: str | None
    balance: Annotated[Decimal | None, WithJsonSchema({"type": ["number", "null"]})]
    created_at: Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]
    updated_at: Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]


class SchemaError(ValueError):
    """The body does not match the schema; ``errors`` is a list of {field, message}."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def parse_create(body: Any) -> dict[str, str]:
    """Validate a create body; return the fields to store, as strings."""
    model = _validate(CustomerCreate, body)
    return encode(model.model_dump(exclude_none=True))


@dataclass(frozen=True)
class Patch:
    """A validated merge patch."""

    changes: dict[str, str]  # the fields to set, as stored
    removed: list[str]
    unchanged: dict[str, str | None]  # the timestamps sent, as shown: they must still be stored


def parse_patch(body: Any, customer_id: str) -> Patch:
    """Validate a merge patch to the customer ``customer_id``.

    The read-only fields may be sent as a GET showed them: ``id`` must be
    ``customer_id``; the timestamps are compared by the write itself.
    """
    if isinstance(body, dict) and "name" in body and body["name"] is None:
        raise SchemaError([{"field": "name", "message": "cannot be removed"}])
    model = _validate(CustomerPatch, body)
    given = model.model_dump(include=model.model_fields_set)
    if normalize_id(given.pop("id", customer_id)) != customer_id:
        raise SchemaError([{"field": "id", "message": READ_ONLY_DIFFERS}])
    unchanged = {name: given.pop(name) for name in ("created_at", "updated_at") if name in given}
    removed = sorted(name for name, value in given.items() if value is None)
    return Patch(encode({k: v for k, v in given.items() if v is not None}), removed, unchanged)


def encode(values: dict[str, Any]) -> dict[str, str]:
    """Turn validated values into the strings stored in the hash."""
    return {
        name: format_decimal(value) if isinstance(value, Decimal) else str(value)
        for name, value in values.items()
    }


def format_decimal(value: Decimal) -> str:
    """Shortest plain form: 0.10 -> "0.1", 1E+2 -> "100", -0 -> "0"."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def represent(customer_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """The JSON representation of a stored customer."""
    stored_created, updated = fields.get("created_at"), fields.get("updated_at")
    created = display_timestamp(stored_created)
    return {
        "id": customer_id,
        "name": fields.get("name"),
        **{name: fields.get(name) for name in OPTIONAL_FIELDS},
        "balance": _stored_balance(fields.get("balance")),
        "created_at": created,
        "updated_at": created if updated == stored_created else display_timestamp(updated),
    }


def _stored_balance(raw: str | None) -> Decimal | None:
    if raw is None:
        return Decimal(0)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None  # not a number (written by another program): shown as null, kept as is
    return value if value.is_finite() else None


def _validate(model: type[BaseModel], body: Any) -> Any:
    if not isinstance(body, dict):
        raise SchemaError([{"field": "", "message": "the body must be a JSON object"}])
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise SchemaError([_describe(error) for error in exc.errors()]) from None


def _describe(error: Any) -> dict[str, str]:
    field = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        message = "is read-only" if field in READ_ONLY_FIELDS else "is not a known field"
    elif error["type"] == "missing":
        message = "is required"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return {"field": field, "message": message}


class ListQuery(BaseModel):
    """The query string of ``GET /customers``."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,200}$")


def parse_list_query(args: dict[str, str]) -> ListQuery:
    """Validate listing parameters; raise ``SchemaError``."""
    try:
        return ListQuery.model_validate(args)
    except ValidationError as exc:
        raise SchemaError([_describe(error) for error in exc.errors()]) from None
