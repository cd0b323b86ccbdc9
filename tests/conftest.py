"""Fixtures shared by every test: an app over a fresh in-memory store."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest

from app import create_app
from app.settings import Settings
from app.store.repository import CustomerRepository
from tests.support.figures import FIGURES

_UNIT = Path(__file__).resolve().parent / "unit"


@pytest.fixture
def redis_client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(decode_responses=True)


@pytest.fixture
def repository(redis_client: fakeredis.FakeRedis) -> CustomerRepository:
    return CustomerRepository(redis_client)


@pytest.fixture
def app(repository: CustomerRepository):
    app = create_app(Settings(), repository)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def commands_on_fake(monkeypatch, redis_client):
    """``flask customers`` commands connect with ``build_client(settings)``: here, to the app's fake."""
    monkeypatch.setattr("app.ops.cli.build_client", lambda settings: redis_client)


@pytest.fixture
def client(app):
    return app.test_client()


def pytest_collection_modifyitems(items):
    """Mark tests/unit ``unit``: ``-m unit`` runs them and nothing that starts a server."""
    for item in items:
        if _UNIT in item.path.resolve().parents:
            item.add_marker(pytest.mark.unit)


def pytest_terminal_summary(terminalreporter):
    """Print what the tests measured (fuzzing counts, fault figures)."""
    for section, lines in FIGURES.items():
        terminalreporter.section(section)
        for line in lines:
            terminalreporter.write_line(line)
