"""From imported records to customers: checked like the API, written in batches.

A record with an ``id`` is restored as given (its timestamps too, else now),
so a re-run leaves the same data. A record without one is a new customer,
validated like ``POST /customers`` (so it may not carry timestamps) and
stamped now; a re-run creates it again, unless a key field names it: with
``key_field="email"`` its id is a UUID 5 of the trimmed, lowercased email, so
a re-run finds the customer the first run created and leaves it as it is
("already present"). Only ids derived this way are found: a customer created
through the API has a random id, and nothing indexes emails.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app import json_codec
from app.customers import schemas
from app.customers.model import StoredCustomer, normalize_id
from app.ops.transfer import BadRecord
from app.store.maintenance import CustomerMaintenance
from app.store.timestamps import timestamp

KEY_FIELDS = ("email",)
# Fixed for good: another namespace would give every keyed customer another id.
KEY_NAMESPACE = uuid.UUID("4a4b1fb9-37c7-4610-9dc5-f59580626672")
SOME_SKIPPED = 3  # exit status: some records were bad and skipped, the rest imported
NOTHING_IMPORTED = 4  # exit status: there were records, and every one was bad


@dataclass(frozen=True)
class NewCustomer:
    id: str
    fields: dict[str, str]  # validated, without timestamps: create_many stamps them


@dataclass
class Tally:
    created: int = 0
    restored: int = 0
    present: int = 0
    bad: int = 0

    @property
    def imported(self) -> int:
        return self.created + self.restored + self.present

    def summary(self, seconds: float) -> str:
        plural = "" if self.bad == 1 else "s"
        return (
            f"created {self.created:,}, restored {self.restored:,}, already present {self.present:,}, "
            f"skipped {self.bad:,} bad record{plural}, in {seconds:.1f} s "
            f"({self.imported / max(seconds, 1e-9):,.0f}/s)"
        )

    def exit_status(self) -> int:
        if not self.bad:
            return 0
        return SOME_SKIPPED if self.imported else NOTHING_IMPORTED


class RecordChecker:
    """Check records in file order; remember key values, to report a duplicate by line."""

    def __init__(self, key_field: str | None = None) -> None:
        self.key_field = key_field
        self._seen: dict[str, int] = {}

    def check(self, number: int, raw: Any) -> StoredCustomer | NewCustomer | BadRecord:
        """A customer to restore, one to create, or what is wrong with the record."""
        if isinstance(raw, BadRecord):
            return raw
        if not isinstance(raw, dict):
            return BadRecord(number, "not a JSON object")
        record = {k: v for k, v in raw.items() if v is not None}
        if "id" not in record:
            return self._new(number, record)
        customer_id = normalize_id(str(record.pop("id")))
        if customer_id is None:
            return BadRecord(number, "id: must be a UUID")
        stamps = {}
        for name in ("created_at", "updated_at"):
            value = record.pop(name, None)
            stamp = _timestamp(value) if value is not None else timestamp(datetime.now(UTC))
            if stamp is None:
                return BadRecord(number, f"{name}: must be an RFC 3339 timestamp")
            stamps[name] = stamp
        fields = _fields(number, record)
        return fields if isinstance(fields, BadRecord) else StoredCustomer(customer_id, {**fields, **stamps})

    def _new(self, number: int, record: dict[str, Any]) -> NewCustomer | BadRecord:
        fields = _fields(number, record)
        if isinstance(fields, BadRecord) or self.key_field is None:
            return fields if isinstance(fields, BadRecord) else NewCustomer(str(uuid.uuid4()), fields)
        name = self.key_field
        if name not in fields:
            return BadRecord(number, f"{name}: is required as the key field")
        key = fields[name].strip().lower()
        if key in self._seen:
            return BadRecord(number, f"{name}: duplicate of line {self._seen[key]} (the key field)")
        self._seen[key] = number
        return NewCustomer(str(uuid.uuid5(KEY_NAMESPACE, f"{name}:{key}")), fields)


def checked(
    records: Iterable[tuple[int, Any]],
    key_field: str | None,
    tally: Tally,
    report: Callable[[BadRecord], None],
) -> Iterator[StoredCustomer | NewCustomer]:
    """The good records, in order; each bad one is counted in ``tally`` and given to ``report``."""
    checker = RecordChecker(key_field)
    for number, raw in records:
        result = checker.check(number, raw)
        if isinstance(result, BadRecord):
            tally.bad += 1
            report(result)
        else:
            yield result


def import_records(
    maintenance: CustomerMaintenance,
    records: Iterable[StoredCustomer | NewCustomer],
    tally: Tally,
    batch_size: int = 1000,
) -> Iterator[int]:
    """Restore or create customers in batches, counting in ``tally``; yield the running count."""
    batch: list[StoredCustomer | NewCustomer] = []
    for record in records:
        batch.append(record)
        if len(batch) >= batch_size:
            _write(maintenance, batch, tally)
            batch = []
            yield tally.imported
    if batch:
        _write(maintenance, batch, tally)
        yield tally.imported


def _write(maintenance: CustomerMaintenance, batch: list[StoredCustomer | NewCustomer], tally: Tally) -> None:
    restored = [r for r in batch if isinstance(r, StoredCustomer)]
    new = [(r.id, r.fields) for r in batch if isinstance(r, NewCustomer)]
    if restored:
        maintenance.restore(restored)
        tally.restored += len(restored)
    if new:
        created = sum(maintenance.create_many(new))
        tally.created += created
        tally.present += len(new) - created


def _fields(number: int, record: dict[str, Any]) -> dict[str, str] | BadRecord:
    if isinstance(record.get("balance"), str):  # CSV cells are text
        try:
            record["balance"] = Decimal(record["balance"])
        except InvalidOperation:
            return BadRecord(number, "balance: must be a number")
    if isinstance(record.get("metadata"), str):  # in CSV, the object as JSON text
        try:
            record["metadata"] = json_codec.loads(record["metadata"].encode())
        except json_codec.MalformedJSON:
            return BadRecord(number, 'metadata: must be a JSON object, such as {"crm_id":"42"}')
    try:
        return schemas.parse_create(record)
    except schemas.SchemaError as error:
        return BadRecord(number, str(error))  # field: message; field: message


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return timestamp(moment)  # stored as the service stores its own
