"""``flask --app wsgi customers ...``: maintenance commands."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.store import repository

customers = AppGroup("customers", help="Maintain the customer records.")


@customers.command("reindex")
def reindex() -> None:
    """Rebuild the listing index from every customer:* hash (safe to re-run)."""
    count = 0
    for count in repository().reindex():
        click.echo(f"indexed {count} customers", err=True)
    click.echo(f"done: {count} customers indexed")


def register(app: Flask) -> None:
    """Attach the command group to the app."""
    app.cli.add_command(customers)
