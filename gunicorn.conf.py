"""gunicorn settings: ``gunicorn wsgi:app`` picks this file up by itself.

Values come from the environment through ``app.settings``, the one module that
reads it, so a bad variable stops the master at once with one clear line.
"""

import sys

from app import embedded
from app.auth import OPEN_API_WARNING
from app.redis_client import TlsError, check_tls
from app.settings import ConfigError, Settings

try:
    _settings = Settings.from_env()
except ConfigError as error:
    sys.exit(f"configuration error: {error}")

bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.web_concurrency
timeout = 30
graceful_timeout = 30
# Several services may run on one host (and tests run several at once); the
# runtime control socket would sit at one shared path, and nothing uses it.
control_socket_disable = True
# Request size limits, enforced by gunicorn's parser before the app runs
# (bodies are limited to 64 KiB by the app itself).
limit_request_line = 8190  # the most gunicorn allows: longer lines get its plain-text 414
limit_request_fields = 64
limit_request_field_size = 8190
# Worker heartbeats in memory, not /tmp: the container can run with --read-only.
worker_tmp_dir = "/dev/shm"  # noqa: S108 (gunicorn only touches its heartbeat files here)
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()


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


def on_exit(server):
    """Stop the embedded store if this master started it."""
    embedded.stop()
