"""Prometheus metrics at ``GET /metrics``, correct under several gunicorn workers.

Under gunicorn every worker is its own process, so counters live in
prometheus-client's multiprocess mode: each process writes to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them up. gunicorn.conf.py
creates that directory and sets the variable in the master before any worker
exists; prometheus-client decides its storage when it is first imported, which
is why it is imported here inside ``init_app`` and not at the top.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from redis.exceptions import RedisError

from app.settings import Settings

# Latency buckets from 1 ms to 2.5 s: Redis answers in well under a millisecond,
# a request in a few; the top buckets catch failovers and timeouts.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The service's metrics, registered once per process."""

    def __init__(self) -> None:
        import prometheus_client as prom  # noqa: PLC0415 (after the master set the directory)

        self._prom = prom
        self.requests = prom.Counter(
            "customers_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
        )
        self.latency = prom.Histogram(
            "customers_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            buckets=_BUCKETS,
        )
        self.redis_latency = prom.Histogram(
            "customers_redis_operation_duration_seconds",
            "Time of one repository operation (its Redis round trips).",
            ["operation"],
            buckets=_BUCKETS,
        )
        self.redis_errors = prom.Counter(
            "customers_redis_errors_total",
            "Repository operations that failed in Redis.",
            ["operation", "error"],
        )
        self.events = prom.Counter(
            "customers_events_total",
            "Idempotent replays, failed preconditions, unconfirmed writes.",
            ["event"],
        )

    def render(self, multiprocess_dir: Path | None) -> Response:
        """The text exposition of every process's metrics."""
        prom = self._prom
        if multiprocess_dir:
            from prometheus_client import multiprocess  # noqa: PLC0415

            registry = prom.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))
        else:
            registry = prom.REGISTRY
        return Response(prom.generate_latest(registry), mimetype=prom.CONTENT_TYPE_LATEST)


class _Process:
    """Metrics register once per process (a registry refuses duplicates)."""

    metrics: Metrics | None = None


def init_app(app: Flask, settings: Settings) -> None:
    """Serve /metrics; time every request and count it by method, route template and status."""
    if not settings.metrics_enabled:
        return
    if _Process.metrics is None:
        _Process.metrics = Metrics()
    registered = _Process.metrics
    app.add_url_rule("/metrics", "metrics", lambda: registered.render(settings.metrics_multiprocess_dir))

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        if "started" in g:
            route = request.url_rule.rule if request.url_rule else "unmatched"
            registered.requests.labels(request.method, route, str(response.status_code)).inc()
            registered.latency.labels(request.method, route).observe(time.perf_counter() - g.started)
        return response


class InstrumentedRepository:
    """The repository, with each public call timed and its Redis errors counted."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        return functools.partial(timed, name, attribute)


def count(event: str) -> None:
    """Count a domain event (no-op when metrics are off)."""
    if _Process.metrics is not None:
        _Process.metrics.events.labels(event).inc()


def timed(operation: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a repository call, recording its duration and Redis errors."""
    registered = _Process.metrics
    if registered is None:
        return call(*args, **kwargs)
    started = time.perf_counter()
    try:
        return call(*args, **kwargs)
    except RedisError as error:
        registered.redis_errors.labels(operation, type(error).__name__).inc()
        raise
    finally:
        registered.redis_latency.labels(operation).observe(time.perf_counter() - started)
