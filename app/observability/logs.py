"""Structured logs: one JSON object per line, for the app and for gunicorn.

The per-request line is gunicorn's access log (``GunicornLogger.access``): it
knows the status and the full duration. The app lends it the route template
through the WSGI environ, so lines group by route, not by customer id. No
line carries a request body, a header value other than the request id, or a
secret.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
from gunicorn.glogging import Logger

ROUTE_ENVIRON_KEY = "customers.route"
REQUEST_ID_ENVIRON_KEY = "customers.request_id"


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, any ``fields`` passed as extra, and a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:  # orjson: one access line per request, so the encoder's speed shows
            return orjson.dumps(entry, default=str).decode()
        except orjson.JSONEncodeError:  # text that is not valid Unicode
            return json.dumps(entry, default=str, separators=(",", ":"))


def configure(level: str) -> None:
    """Send the app's own log records to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class GunicornLogger(Logger):
    """gunicorn's logs as JSON; the access log is the one line per request."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: MutableMapping[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        fields = {
            "method": environ.get("REQUEST_METHOD"),
            "route": environ.get(ROUTE_ENVIRON_KEY, "-"),
            "path": environ.get("PATH_INFO"),
            "status": int(status),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "bytes": getattr(resp, "sent", None),
            "request_id": environ.get(REQUEST_ID_ENVIRON_KEY, "-"),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "pid": os.getpid(),  # which worker answered
        }
        self.access_log.info("request", extra={"fields": fields})
