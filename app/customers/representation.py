"""The JSON representation of a stored customer: what GET shows and export writes.

Reading is lenient, so hashes written by the sample or by hand are still
served: a value another program wrote is shown as stored, or as null when it
cannot be a balance.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from app.store.keys import metadata_of
from app.store.timestamps import display_timestamp

OPTIONAL_FIELDS = ("email", "phone", "address")


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
    metadata: Annotated[
        dict[str, str],
        WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}}),
    ] = Field(description="Always present: {} when the customer has none.")


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
        "metadata": metadata_of(fields),
    }


def _stored_balance(raw: str | None) -> Decimal | None:
    if raw is None:
        return Decimal(0)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None  # not a number (written by another program): shown as null, kept as is
    return value if value.is_finite() else None
