"""Validation of what clients send: the create and patch bodies, the listing query.

Every model refuses unknown fields, and every error names its field in
words (``SchemaError.errors``; a metadata entry as ``metadata.<key>``).
Validated values become the plain strings stored in the customer's hash
(``encode``), each metadata entry a field of its own (app/store/keys.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.customers.fields import (
    Address,
    Balance,
    EchoedId,
    EchoedTimestamp,
    Email,
    LookupEmail,
    Metadata,
    MetadataPatch,
    Moment,
    Name,
    Phone,
)
from app.customers.model import Filters, normalize_id
from app.store.keys import metadata_field

READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at"})
READ_ONLY_DIFFERS = "is read-only and differs from the stored value"


class CustomerCreate(BaseModel):
    """The body of ``POST /customers``."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    email: Email | None = None
    phone: Phone | None = None
    address: Address | None = None
    balance: Balance = Field(Decimal(0), json_schema_extra={"default": 0})
    metadata: Metadata | None = None


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
    metadata: MetadataPatch | None = None
    id: EchoedId = None  # type: ignore[assignment]
    created_at: EchoedTimestamp = None
    updated_at: EchoedTimestamp = None


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
    removed: list[str]  # the fields to remove, as stored
    unchanged: dict[str, str | None]  # the timestamps sent, as shown: they must still be stored
    clear_metadata: bool = False  # ``"metadata": null``: remove every metadata entry


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
    clear_metadata = "metadata" in given and given["metadata"] is None
    # Merged key by key: each entry is a field to set or, for null, to remove.
    entries = given.pop("metadata", None) or {}
    given.update({metadata_field(key): value for key, value in entries.items()})
    removed = sorted(name for name, value in given.items() if value is None)
    changes = encode({k: v for k, v in given.items() if v is not None})
    return Patch(changes, removed, unchanged, clear_metadata)


def encode(values: dict[str, Any]) -> dict[str, str]:
    """Turn validated values into the strings stored in the hash, metadata one field per key."""
    stored = {
        name: format_decimal(value) if isinstance(value, Decimal) else str(value)
        for name, value in values.items()
        if name != "metadata"
    }
    stored.update({metadata_field(key): value for key, value in values.get("metadata", {}).items()})
    return stored


def format_decimal(value: Decimal) -> str:
    """Shortest plain form: 0.10 -> "0.1", 1E+2 -> "100", -0 -> "0"."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _validate(model: type[BaseModel], body: Any) -> Any:
    if not isinstance(body, dict):
        raise SchemaError([{"field": "", "message": "the body must be a JSON object"}])
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise SchemaError([_describe(error) for error in exc.errors()]) from None


def _describe(error: Any) -> dict[str, str]:
    # A bad metadata key is located at ("metadata", <key>, "[key]"): named as metadata.<key>.
    field = ".".join(str(part) for part in error["loc"] if part != "[key]")
    if error["type"] == "extra_forbidden":
        message = "is read-only" if field in READ_ONLY_FIELDS else "is not a known field"
    elif error["type"] == "missing":
        message = "is required"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return {"field": field, "message": message}


FILTER_PARAMETERS = ("email", "order", "created[gte]", "created[gt]", "created[lte]", "created[lt]")
_MOMENT = "an RFC 3339 timestamp, e.g. 2026-12-01T09:30:00Z or 2026-12-01T10:30:00.5+01:00"


class ListQuery(BaseModel):
    """The query string of ``GET /customers``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,300}$")
    email: LookupEmail | None = Field(None, description="Only customers with this email (any case).")
    order: Literal["asc", "desc"] = Field("asc", description="`asc`: oldest first; `desc`: newest first.")
    created_gte: Moment | None = Field(
        None, alias="created[gte]", description=f"Created at or after: {_MOMENT}."
    )
    created_gt: Moment | None = Field(None, alias="created[gt]", description=f"Created after: {_MOMENT}.")
    created_lte: Moment | None = Field(
        None, alias="created[lte]", description=f"Created at or before: {_MOMENT}."
    )
    created_lt: Moment | None = Field(None, alias="created[lt]", description=f"Created before: {_MOMENT}.")

    @property
    def filters(self) -> Filters:
        """The filters and order, with the time bounds as inclusive microseconds."""
        lows = [m.ceiling for m in (self.created_gte,) if m] + [m.floor + 1 for m in (self.created_gt,) if m]
        highs = [m.floor for m in (self.created_lte,) if m] + [m.ceiling - 1 for m in (self.created_lt,) if m]
        return Filters(
            email=self.email,
            descending=self.order == "desc",
            created_from=max(lows) if lows else None,
            created_to=min(highs) if highs else None,
        )


def parse_list_query(args: dict[str, str]) -> ListQuery:
    """Validate listing parameters; raise ``SchemaError``."""
    try:
        return ListQuery.model_validate(args)
    except ValidationError as exc:
        raise SchemaError([_describe_query(error) for error in exc.errors()]) from None


def _describe_query(error: Any) -> dict[str, str]:
    described = _describe(error)
    if error["type"] == "literal_error":
        described["message"] = "must be asc or desc"
    return described
