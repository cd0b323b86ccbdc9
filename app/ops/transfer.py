"""Customers in and out of the service as files: NDJSON out, NDJSON or CSV in.

An exported line is the API's JSON representation of one customer. Importing
validates each record with the API's own schema (``CustomerCreate``), keeps
its ``id``, ``created_at`` and ``updated_at``, and writes in batches; a
re-run with the same file leaves the same data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from app import json_codec
from app.customers import schemas
from app.customers.model import StoredCustomer, normalize_id
from app.customers.representation import represent
from app.store.maintenance import CustomerMaintenance
from app.store.timestamps import timestamp

CSV_COLUMNS = ("id", "name", "email", "phone", "address", "balance", "created_at", "updated_at")


@dataclass(frozen=True)
class BadRecord:
    line: int
    message: str


def export_lines(repository: CustomerMaintenance) -> Iterator[str]:
    """Yield one NDJSON line (with its newline) per stored customer."""
    for batch in repository.scan():
        for customer in batch:
            yield json_codec.dumps(represent(customer.id, customer.fields)).decode() + "\n"


def read_records(stream: TextIO, fmt: str) -> Iterator[tuple[int, dict[str, Any] | BadRecord]]:
    """Yield (line number, raw record or the reason it is unreadable)."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
        if unknown:
            yield 1, BadRecord(1, f"unknown columns: {', '.join(sorted(unknown))}")
            return
        for row in reader:
            yield reader.line_num, {k: v for k, v in row.items() if v not in ("", None)}
        return
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield number, json_codec.loads(line.encode())
        except json_codec.MalformedJSON as error:
            yield number, BadRecord(number, f"not JSON: {error}")


def validate(number: int, raw: dict[str, Any] | BadRecord) -> StoredCustomer | BadRecord:
    """Turn one raw record into a customer to store, or say what is wrong with it."""
    if isinstance(raw, BadRecord):
        return raw
    if not isinstance(raw, dict):
        return BadRecord(number, "not a JSON object")
    record = {k: v for k, v in raw.items() if v is not None}
    customer_id = normalize_id(str(record.pop("id", "")))
    if customer_id is None:
        return BadRecord(number, "id: must be a UUID")
    stamps = {}
    for name in ("created_at", "updated_at"):
        value = record.pop(name, None)
        stamp = _timestamp(value) if value is not None else _now()
        if stamp is None:
            return BadRecord(number, f"{name}: must be an RFC 3339 timestamp")
        stamps[name] = stamp
    if isinstance(record.get("balance"), str):  # CSV cells are text
        try:
            record["balance"] = Decimal(record["balance"])
        except InvalidOperation:
            return BadRecord(number, "balance: must be a number")
    try:
        fields = schemas.parse_create(record)
    except schemas.SchemaError as error:
        return BadRecord(number, "; ".join(f"{e['field']}: {e['message']}" for e in error.errors))
    return StoredCustomer(customer_id, {**fields, **stamps})


def import_records(
    repository: CustomerMaintenance, records: Iterable[StoredCustomer], batch_size: int = 1000
) -> Iterator[int]:
    """Restore customers in batches; yield the running count after each batch."""
    done, batch = 0, []
    for customer in records:
        batch.append(customer)
        if len(batch) >= batch_size:
            repository.restore(batch)
            done += len(batch)
            batch = []
            yield done
    if batch:
        repository.restore(batch)
        yield done + len(batch)


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


def _now() -> str:
    return timestamp(datetime.now(UTC))
