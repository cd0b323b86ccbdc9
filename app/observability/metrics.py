"""Prometheus metrics at ``GET /metrics``, correct under several gunicorn workers.

Under gunicorn every worker is its own process, so counters live in
prometheus-client's multiprocess mode: each process writes to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them up. gunicorn.conf.py
creates that directory and sets the variable in the master before any worker
exists; prometheus-client decides its storage when it is first imported, which
is why it is imported here inside ``Metrics`` and not at the top.

Each app has metrics of its own, in a registry of its own: no process-wide
registry is filled, so one process can build several apps (tests do). With
``PROMETHEUS_MULTIPROC_DIR``, ``/metrics`` reads every process's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response

from app.settings import Settings

# Latency buckets from 1 ms to 2.5 s: Redis answers in well under a millisecond,
# a request in a few; the top buckets catch failovers and timeouts.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """One app's metrics, in its own registry."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        import prometheus_client as prom  # noqa: PLC0415 (after the master set the directory)

        self._prom = prom
        self._multiprocess_dir = multiprocess_dir
        self.registry = registry = prom.CollectorRegistry()
        if multiprocess_dir is None:
            # What prometheus-client's global registry would show too: the process's own figures.
            prom.ProcessCollector(registry=registry)
            prom.PlatformCollector(registry=registry)
            prom.GCCollector(registry=registry)
        self.requests = prom.Counter(
            "customers_http_requests_total",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = prom.Histogram(
            "customers_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.redis_latency = prom.Histogram(
            "customers_redis_operation_duration_seconds",
            "Time of one repository operation (its Redis round trips).",
            ["operation"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.redis_errors = prom.Counter(
            "customers_redis_errors_total",
            "Repository operations that failed in Redis.",
            ["operation", "error"],
            registry=registry,
        )
        self.events = prom.Counter(
            "customers_events_total",
            "Idempotent replays, failed preconditions, unconfirmed writes.",
            ["event"],
            registry=registry,
        )

        # Labelled children, looked up once: .labels() validates on every call.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._operation_children: dict[str, Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        children = self._request_children.get((method, route, status))
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._request_children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_operation(self, operation: str, seconds: float) -> None:
        """Record the duration of one repository call."""
        child = self._operation_children.get(operation)
        if child is None:
            child = self._operation_children[operation] = self.redis_latency.labels(operation)
        child.observe(seconds)

    def redis_error(self, operation: str, error: str) -> None:
        """Count a repository call that failed in Redis."""
        self.redis_errors.labels(operation, error).inc()

    def count(self, event: str) -> None:
        """Count a domain event."""
        self.events.labels(event).inc()

    def render(self) -> Response:
        """The text exposition of this app's metrics, in every process (multiprocess mode)."""
        prom = self._prom
        registry = self.registry
        if self._multiprocess_dir:
            from prometheus_client import multiprocess  # noqa: PLC0415

            registry = prom.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=str(self._multiprocess_dir))
        # content_type, not mimetype: the constant has its charset already, and a
        # mimetype would get a second one appended.
        return Response(prom.generate_latest(registry), content_type=prom.CONTENT_TYPE_LATEST)


def init_app(app: Flask, settings: Settings) -> Metrics | None:
    """Serve /metrics and return the app's metrics to observe requests with (None when off)."""
    if not settings.metrics_enabled:
        return None
    metrics = Metrics(settings.metrics_multiprocess_dir)
    app.add_url_rule("/metrics", "metrics", metrics.render)
    return metrics
