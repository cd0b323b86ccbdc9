"""``flask --app wsgi customers ...``: operators' commands.

Progress goes to standard error, and only when it is a terminal, so output
piped into a file or another program stays clean. No logging is set up (only
gunicorn.conf.py does): Python's last-resort handler prints warnings and errors
to standard error as plain text, and drops the rest. Each command connects
with a client of its own (``build_client``), not through the app's repository.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from redis.exceptions import RedisError

from app.customers.model import EventsExpired, StoredCustomer
from app.ops import diagnostics, importing, transfer
from app.settings import Settings, settings_of
from app.store.client import build_client
from app.store.cursors import InvalidCursor
from app.store.maintenance import CustomerMaintenance
from app.store.repository import CustomerRepository
from app.store.tls_check import TlsError

customers = AppGroup("customers", help="Maintain the customer records.")


class Progress:
    """A count and a rate on one terminal line; silent when stderr is not a terminal."""

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.count = 0
        self.started = time.monotonic()
        self._tty = sys.stderr.isatty()

    def update(self, count: int) -> None:
        self.count = count
        if self._tty:
            click.echo(f"\r{self.verb} {count:,} customers ({self.rate():,.0f}/s)", err=True, nl=False)

    def rate(self) -> float:
        return self.count / max(time.monotonic() - self.started, 1e-9)

    def stop(self) -> float:
        """End the terminal line; return the seconds since the start."""
        if self._tty:
            click.echo(err=True)
        return time.monotonic() - self.started

    def done(self) -> str:
        elapsed = self.stop()
        return f"{self.verb} {self.count:,} customers in {elapsed:.1f} s ({self.rate():,.0f}/s)"


@customers.command("reindex")
def reindex() -> None:
    """Rebuild the listing and email indexes from every customer:* hash (safe to re-run)."""
    progress = Progress("indexed")
    for count in _maintenance().reindex():
        progress.update(count)
    click.echo(progress.done(), err=True)


@customers.command("duplicates")
def duplicates() -> None:
    """List emails that several customers share (run before UNIQUE_EMAILS=true); exit 1 if any."""
    found = 0
    for address, ids in _maintenance().duplicate_emails():
        found += 1
        click.echo(f"{address}\t{' '.join(ids)}")
    click.echo(f"{found:,} emails shared by more than one customer", err=True)
    if found:
        sys.exit(1)


@customers.command("export")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout)."
)
def export(output: Path | None) -> None:
    """Write every customer as NDJSON, one JSON object per line (constant memory)."""
    progress = Progress("exported")
    count = 0
    with click.open_file(str(output) if output else "-", "w", encoding="utf-8") as out:
        for count, line in enumerate(transfer.export_lines(_maintenance()), 1):
            out.write(line)
            if count % 1000 == 0:
                progress.update(count)
    progress.count = count
    click.echo(progress.done(), err=True)


@customers.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["ndjson", "csv"]), help="Default: from the file name.")
@click.option(
    "--key-field",
    type=click.Choice(importing.KEY_FIELDS),
    help="Derive the id of a record without one from this field (trimmed, lowercased), so that "
    "a re-run finds the customers the first run created instead of creating them again.",
)
@click.option(
    "--ignore-unknown",
    is_flag=True,
    help="Import a file with columns (CSV) or fields (NDJSON) no customer has, without them. "
    "Default: refuse the file.",
)
@click.option(
    "--strict", is_flag=True, help="Reject the whole file if any record is bad (nothing is written)."
)
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
def import_(  # keyword-only: click passes options by name
    source: Path,
    *,
    fmt: str | None,
    key_field: str | None,
    ignore_unknown: bool,
    strict: bool,
    batch_size: int,
) -> None:
    """Load customers from NDJSON or CSV (with a header row), validated like the API.

    A record with an id is restored as given, timestamps too: a re-run leaves
    the same data. A record without an id becomes a new customer, created now
    as POST /customers would; running the file again creates it again, unless
    --key-field email: then a re-run leaves the customers it finds as they are
    (counted as already present). Bad records are reported by line number and
    skipped. Unknown columns or fields are named once and refuse the file.

    \b
    Exit status:
      0  every record imported (created, restored or already present)
      1  file refused, nothing written (unknown fields; not UTF-8; --strict and a bad record)
      3  some bad records skipped, the others imported
      4  nothing imported: every record was bad
    """
    fmt = fmt or ("csv" if source.suffix.lower() == ".csv" else "ndjson")
    try:
        with transfer.open_seekable(source) as stream:
            _import(
                stream,
                fmt,
                key_field=key_field,
                ignore_unknown=ignore_unknown,
                strict=strict,
                batch_size=batch_size,
            )
    except transfer.NotText as error:
        raise click.ClickException(f"{error}: nothing imported") from None


def _import(
    stream: TextIO, fmt: str, *, key_field: str | None, ignore_unknown: bool, strict: bool, batch_size: int
) -> None:
    ignore = _unknown_fields(stream, fmt, ignore_unknown)

    def good_records(tally: importing.Tally) -> Iterator[StoredCustomer | importing.NewCustomer]:
        stream.seek(0)
        return importing.checked(transfer.read_records(stream, fmt, ignore), key_field, tally, _report)

    if strict:  # a first pass that writes nothing
        first = importing.Tally()
        for _ in good_records(first):
            pass
        if first.bad:
            raise click.ClickException(f"{first.bad} bad records: nothing imported (--strict)")
    tally = importing.Tally()
    progress = Progress("imported")
    for count in importing.import_records(_maintenance(), good_records(tally), tally, batch_size):
        progress.update(count)
    click.echo(tally.summary(progress.stop()), err=True)
    if tally.exit_status():
        raise SystemExit(tally.exit_status())


def _unknown_fields(stream: TextIO, fmt: str, ignore_unknown: bool) -> frozenset[str]:
    """Refuse the file if it names fields no customer has, or name them once and ignore them."""
    unknown = transfer.unknown_fields(stream, fmt)
    if not unknown:
        return frozenset()
    what = "columns" if fmt == "csv" else "fields"
    if not ignore_unknown:
        raise click.ClickException(
            f"unknown {what}: {', '.join(unknown)}; known: {', '.join(transfer.FIELDS)}. "
            "Nothing imported: rename them, or give --ignore-unknown to import without them."
        )
    click.echo(f"ignoring unknown {what}: {', '.join(unknown)}", err=True)
    return frozenset(unknown)


def _report(bad: transfer.BadRecord) -> None:
    click.echo(f"line {bad.line}: {bad.message}", err=True)


@customers.command("events")
@click.option("--follow", "-f", is_flag=True, help="Keep polling for new events (until interrupted).")
@click.option("--cursor", help="Start after this cursor (from GET /events); default: the oldest kept.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 60))
def events(*, follow: bool, cursor: str | None, interval: float) -> None:
    """Print the change events as NDJSON, one event per line, oldest first.

    Each line is what GET /events shows. With --follow, poll again every
    --interval seconds; the cursor to resume from goes to standard error at
    each poll that read something, when it is a terminal.
    """
    settings = settings_of(current_app)
    if not settings.events_enabled:
        raise click.ClickException("EVENTS_ENABLED is false: there is no feed")
    feed = CustomerRepository(
        build_client(settings), events=True, retention_hours=settings.events_retention_hours
    )
    try:
        for line in transfer.event_lines(feed, cursor, follow=follow, interval=interval):
            click.echo(line, nl=False)
    except InvalidCursor:
        raise click.ClickException("the cursor is not one this service handed out") from None
    except EventsExpired:
        raise click.ClickException("events after this cursor are gone: resynchronise from the list") from None


@customers.command("check-config")
def check_config() -> None:
    """Show the effective settings, then check the database: topology, TLS, permissions."""
    settings = settings_of(current_app)
    for name, value in settings.describe():
        click.echo(f"{name:20} {value}")
    click.echo(f"\ndatabase: {settings.database_label}")
    report = diagnostics.Report()
    try:
        client = build_client(settings)  # checks TLS first: TlsError says what is wrong
        client.ping()
        report.lines.append(_tls_line(settings))
        diagnostics.topology(client, report)
        diagnostics.permissions(client, report)
    except TlsError as error:
        report.problems.append(str(error))
    except RedisError as error:
        report.problems.append(f"cannot use the database: {type(error).__name__}: {error}")
    _print(report.lines)
    if report.problems:
        _print(f"PROBLEM: {problem}" for problem in report.problems)
        raise SystemExit(1)
    click.echo("OK: the service can work with this database")


def _maintenance() -> CustomerMaintenance:
    """Bulk work over the configured database, on a client of the command's own."""
    settings = settings_of(current_app)
    return CustomerMaintenance(build_client(settings), events=settings.events_enabled)


def _tls_line(settings: Settings) -> str:
    if settings.embedded:
        return "TLS: not used (embedded store on a unix socket)"
    if not settings.db_tls and not (settings.redis_url or "").startswith("rediss://"):
        return "TLS: off"
    ca = settings.db_tls_ca_file or "the system CAs"
    client_cert = "with" if settings.db_tls_cert_file else "without"
    return f"TLS: on, server certificate verified against {ca}, {client_cert} a client certificate"


def _print(lines: Iterable[str]) -> None:
    for line in lines:
        click.echo(line)


def register(app: Flask) -> None:
    """Attach the command group to the app."""
    app.cli.add_command(customers)
