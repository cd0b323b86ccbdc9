"""The JSON representation of a change event: what ``GET /events`` shows.

``data`` is rendered at read time from the stored fields the event carries,
by the same function as ``GET /customers/<id>``: the event shows the
customer exactly as a GET right after the change did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from app.customers.model import StoredEvent
from app.customers.representation import CustomerView, represent

TYPES = {"created": "customer.created", "updated": "customer.updated", "deleted": "customer.deleted"}


class EventView(BaseModel):
    """A change to one customer; ``data`` is the customer after it (before it, for a delete)."""

    id: str
    type: Literal["customer.created", "customer.updated", "customer.deleted"]
    created_at: str
    customer_id: str
    data: CustomerView


def represent_event(event: StoredEvent) -> dict[str, Any]:
    """The JSON representation of a stored event."""
    moment = datetime.fromtimestamp(event.at_ms / 1000, UTC)
    return {
        "id": event.id,
        "type": TYPES[event.type],
        "created_at": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "customer_id": event.customer_id,
        "data": represent(event.customer_id, event.fields),
    }
