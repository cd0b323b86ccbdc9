"""The repository an app uses, built on first use in each process.

Building it opens connections (a cluster client reads the slot map at once),
so it happens lazily, after gunicorn has forked the worker, and again on the
next request if Redis was unreachable the first time.
"""

from __future__ import annotations

import threading

from flask import Flask

from app.observability.instrumented import InstrumentedRepository
from app.observability.metrics import Metrics
from app.settings import Settings
from app.store.client import build_client
from app.store.repository import CustomerRepository

REPOSITORY_EXTENSION = "customers.repository"

Repository = CustomerRepository | InstrumentedRepository


class RepositoryProvider:
    """Builds the app's repository once per process; measured when the app has metrics."""

    def __init__(
        self, settings: Settings, repository: CustomerRepository | None = None, metrics: Metrics | None = None
    ) -> None:
        self._settings = settings
        self._given = repository
        self._metrics = metrics
        self._repository: Repository | None = None
        self._lock = threading.Lock()

    def get(self) -> Repository:
        """The repository, built now if this process has none yet."""
        if self._repository is None:
            with self._lock:
                if self._repository is None:
                    self._repository = self._build()
        return self._repository

    def _build(self) -> Repository:
        repository = self._given or CustomerRepository(
            build_client(self._settings),
            wait_replicas=self._settings.db_wait_replicas,
            wait_timeout_ms=self._settings.db_wait_timeout_ms,
            unique_emails=self._settings.unique_emails,
            events=self._settings.events_enabled,
            retention_hours=self._settings.events_retention_hours,
            relay=True,
        )
        return repository if self._metrics is None else InstrumentedRepository(repository, self._metrics)


def repository_of(app: Flask) -> Repository:
    """The repository of ``app`` (in a request: ``repository_of(current_app)``)."""
    provider: RepositoryProvider = app.extensions[REPOSITORY_EXTENSION]
    return provider.get()
