"""The repository this process uses, built on first use.

Building it opens connections (a cluster client reads the slot map at once),
so it happens lazily, after gunicorn has forked the worker, and again on the
next request if Redis was unreachable the first time.
"""

from __future__ import annotations

import threading

from flask import current_app

from app.observability.metrics import InstrumentedRepository
from app.settings import Settings
from app.store.client import build_client
from app.store.repository import CustomerRepository

EXTENSION = "customers.store"


class Store:
    def __init__(self, settings: Settings, repository: CustomerRepository | None = None) -> None:
        self.settings = settings
        self._repository = repository
        self._lock = threading.Lock()

    @property
    def repository(self) -> CustomerRepository:
        if self._repository is None:
            with self._lock:
                if self._repository is None:
                    repository = CustomerRepository(
                        build_client(self.settings),
                        wait_replicas=self.settings.db_wait_replicas,
                        wait_timeout_ms=self.settings.db_wait_timeout_ms,
                    )
                    self._repository = (
                        InstrumentedRepository(repository) if self.settings.metrics_enabled else repository
                    )
        return self._repository


def repository() -> CustomerRepository:
    """The repository of the current app."""
    store: Store = current_app.extensions[EXTENSION]
    return store.repository
