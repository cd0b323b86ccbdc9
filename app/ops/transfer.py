"""Customers in and out of the service as files: NDJSON out, NDJSON or CSV in.

An exported line is the API's JSON representation of one customer. An
imported record is one NDJSON object or one CSV row under a header row (a
CSV ``metadata`` cell holds the JSON object as text, ``{"crm_id":"42"}``);
``app/importing.py`` turns records into customers. The fields a record may
name are the representation's: any other is refused or, if the operator
says so, ignored, and named once for the whole file rather than per record.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from app import json_codec
from app.customers.representation import represent
from app.store.maintenance import CustomerMaintenance

FIELDS = ("id", "name", "email", "phone", "address", "balance", "created_at", "updated_at", "metadata")


@dataclass(frozen=True)
class BadRecord:
    line: int
    message: str


def export_lines(maintenance: CustomerMaintenance) -> Iterator[str]:
    """Yield one NDJSON line (with its newline) per stored customer."""
    for batch in maintenance.scan():
        for customer in batch:
            yield json_codec.dumps(represent(customer.id, customer.fields)).decode() + "\n"


class NotText(ValueError):
    """The file is not UTF-8 text: refused before anything is written."""


@contextlib.contextmanager
def open_seekable(source: Path) -> Iterator[TextIO]:
    """The file, or standard input (``-``) copied to a temporary file: an import reads it more than once.

    Read through once first, so that a file that is not UTF-8 text is
    refused before a single record is written.
    """
    if str(source) != "-":
        _check_text(source)
        with source.open(encoding="utf-8", newline="") as stream:
            yield stream
        return
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
        try:
            shutil.copyfileobj(sys.stdin, spool)
        except UnicodeDecodeError:
            raise NotText("standard input is not UTF-8 text") from None
        spool.seek(0)
        yield spool


def _check_text(source: Path) -> None:
    with source.open("rb") as raw:
        for number, line in enumerate(raw, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                raise NotText(f"line {number}: the file is not UTF-8 text (save it as UTF-8)") from None


def unknown_fields(stream: TextIO, fmt: str) -> list[str]:
    """The field names, sorted, that some record uses and no customer has.

    CSV: the header row. NDJSON: every object's keys, so the whole stream is
    read (unreadable lines are left for the import to report).
    """
    if fmt == "csv":
        return sorted(set(_header(csv.DictReader(stream))) - set(FIELDS))
    found: set[str] = set()
    for line in stream:
        try:
            value = json_codec.loads(line.encode())
        except json_codec.MalformedJSON:
            continue
        if isinstance(value, dict):
            found.update(value.keys() - set(FIELDS))
    return sorted(found)


def read_records(
    stream: TextIO, fmt: str, ignore: frozenset[str] = frozenset()
) -> Iterator[tuple[int, dict[str, Any] | BadRecord]]:
    """Yield (line number, raw record without the ``ignore`` fields, or why it is unreadable)."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        _header(reader)
        for row in reader:
            if None in row:
                yield reader.line_num, BadRecord(reader.line_num, "more cells than the header has columns")
                continue
            # An empty cell is an absent field.
            yield reader.line_num, {k: v for k, v in row.items() if v not in ("", None) and k not in ignore}
        return
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            value = json_codec.loads(line.encode())
        except json_codec.MalformedJSON as error:
            yield number, BadRecord(number, f"not JSON: {error}")
            continue
        if isinstance(value, dict) and ignore:
            value = {k: v for k, v in value.items() if k not in ignore}
        yield number, value


def _header(reader: csv.DictReader[str]) -> list[str]:
    """Read the header row, matched as a spreadsheet writes it: any case, spaces, a BOM."""
    names = [name.lstrip("\ufeff").strip().lower() for name in reader.fieldnames or ()]
    reader.fieldnames = names
    return names
