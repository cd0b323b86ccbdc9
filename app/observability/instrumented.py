"""The repository, measured: each call timed, its Redis errors and domain events counted.

One method per repository method, each a plain call through ``_timed``: the
wrapper adds no behaviour, only ``customers_redis_*`` samples and the
``customers_events_total`` events (idempotent replays, failed preconditions,
writes not confirmed durable).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import RedisError

from app.customers.model import (
    Created,
    EventPage,
    Filters,
    Idempotency,
    Page,
    PreconditionFailed,
    StoredCustomer,
)
from app.observability.metrics import Metrics
from app.store.durable import WriteNotDurable
from app.store.repository import CustomerRepository

T = TypeVar("T")


class InstrumentedRepository:
    """A ``CustomerRepository`` that records what each call cost and how it ended."""

    def __init__(self, inner: CustomerRepository, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def create(self, fields: dict[str, str], idempotency: Idempotency | None = None) -> Created:
        created = self._timed("create", lambda: self._inner.create(fields, idempotency))
        if created.replayed:
            self._metrics.count("idempotent_replay")
        return created

    def get(self, customer_id: str) -> StoredCustomer:
        return self._timed("get", lambda: self._inner.get(customer_id))

    def update(
        self,
        customer_id: str,
        changes: dict[str, str],
        removed: list[str],
        if_match: list[str] | None = None,
        unchanged: dict[str, str | None] | None = None,
        *,
        clear_metadata: bool = False,
    ) -> StoredCustomer:
        return self._timed(
            "update",
            lambda: self._inner.update(
                customer_id, changes, removed, if_match, unchanged, clear_metadata=clear_metadata
            ),
        )

    def delete(self, customer_id: str, if_match: list[str] | None = None) -> None:
        self._timed("delete", lambda: self._inner.delete(customer_id, if_match))

    def list(self, limit: int, cursor: str | None = None, filters: Filters | None = None) -> Page:
        return self._timed("list", lambda: self._inner.list(limit, cursor, filters))

    def events(self, limit: int, cursor: str | None = None) -> EventPage:
        return self._timed("events", lambda: self._inner.events(limit, cursor))

    def ping(self) -> None:
        self._timed("ping", self._inner.ping)

    def _timed(self, operation: str, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return call()
        except RedisError as error:
            self._metrics.redis_error(operation, type(error).__name__)
            raise
        except PreconditionFailed:
            self._metrics.count("precondition_failed")
            raise
        except WriteNotDurable:
            self._metrics.count("write_not_durable")
            raise
        finally:
            self._metrics.observe_operation(operation, time.perf_counter() - started)
