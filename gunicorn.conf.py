"""gunicorn settings: ``gunicorn wsgi:app`` picks this file up by itself.

Values come from the environment through ``app.settings``, the one module that
reads it, so a bad variable stops the master at once with one clear line.
"""

import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

from app.api.auth import OPEN_API_WARNING
from app.observability import logs
from app.ops import embedded
from app.settings import ConfigError, Settings
from app.store.tls_check import TlsError, check_tls

try:
    _settings = Settings.from_env()
except ConfigError as error:
    sys.exit(f"configuration error: {error}")

# tmpfs, writable even when the container runs --read-only; gunicorn and
# prometheus-client create their files here with private names and modes.
_MEMORY = Path("/dev/shm")  # noqa: S108

bind = [f"{_settings.host}:{_settings.port}"]
# Measured with bench/ on 2 cores (docs/performance.md): sync workers, two per
# core. gthread (4 threads, reuse_port) gave about the same req/s with twice
# the p99 latency; more workers than 2 per core only added context switches.
worker_class = "sync"
workers = _settings.web_concurrency
timeout = 30  # a worker silent this long is killed and replaced
graceful_timeout = 30  # SIGTERM: requests in flight get this long to finish
keepalive = 5  # seconds; used by threaded workers (sync closes each connection)
# Recycle each worker after about 10,000 requests, at staggered times, so that
# slow leaks (in any library) stay bounded and workers never all restart at once.
max_requests = 10_000
max_requests_jitter = 1_000
# Several services may run on one host (and tests run several at once); the
# runtime control socket would sit at one shared path, and nothing uses it.
control_socket_disable = True
# Request size limits, enforced by gunicorn's parser before the app runs
# (bodies are limited to 64 KiB by the app itself).
limit_request_line = 8190  # the most gunicorn allows: longer lines get its plain-text 414
limit_request_fields = 64
limit_request_field_size = 8190
# Worker heartbeats in memory, not /tmp: the container can run with --read-only.
worker_tmp_dir = str(_MEMORY) if _MEMORY.is_dir() else None
# Access lines to stdout, everything else to stderr (docs/operations.md, Logs).
accesslog = "-"
errorlog = "-"
# JSON lines; the access log is the one line per request (app/observability/logs.py).
logger_class = "app.observability.logs.GunicornLogger"
loglevel = _settings.log_level.lower()
# The app's own records, as JSON to stderr: set in the master, the workers inherit it.
logs.configure(_settings.log_level)


# prometheus-client's multiprocess mode: every worker writes its samples to
# files in one directory, /metrics adds them up. The variable must be set
# before any worker imports prometheus_client, so here, in the master.
_metrics_dir: Path | None = None
if _settings.metrics_enabled:
    if _settings.metrics_multiprocess_dir:
        _metrics_dir = _settings.metrics_multiprocess_dir
        shutil.rmtree(_metrics_dir, ignore_errors=True)  # no samples from an earlier run
        _metrics_dir.mkdir(parents=True, mode=0o700)
    else:
        _metrics_dir = Path(
            tempfile.mkdtemp(prefix="customers-metrics-", dir=_MEMORY if _MEMORY.is_dir() else None)
        )
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def on_starting(server):
    """Check TLS to the database, or start the embedded store: once, before any fork."""
    try:
        check_tls(_settings)
    except TlsError as error:
        sys.exit(f"configuration error: {error}")
    if _settings.embedded and embedded.ensure_running(_settings.data_dir):
        server.log.warning(embedded.notice(_settings.data_dir))
    if not _settings.api_keys:
        server.log.warning(OPEN_API_WARNING)


def post_worker_init(worker):
    """The app is loaded: move its objects out of the garbage collector's sight.

    They live as long as the worker, yet every full collection walked them
    all: gc.freeze() cut the longest pause from 38 ms to 11 ms (20,000
    requests in-process, 113,000 tracked objects down to 40,000).
    """
    gc.freeze()


def child_exit(server, worker):
    """Drop a dead worker's live gauges; its counters stay in the totals."""
    if _metrics_dir is not None:
        from prometheus_client import multiprocess  # noqa: PLC0415 (only once the variable is set)

        multiprocess.mark_process_dead(worker.pid, str(_metrics_dir))


def on_exit(server):
    """Stop the embedded store if this master started it; remove the metrics files."""
    embedded.stop()
    if _metrics_dir is not None and _settings.metrics_multiprocess_dir is None:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
