"""What happens around every request: request id, API key, timing, common headers.

One hook before and one after each request: every hook costs a dispatch.
"""

from __future__ import annotations

import os
import re
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import MethodNotAllowed

from app.api.auth import ApiKeys
from app.observability import logs
from app.observability.metrics import Metrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def register(app: Flask, keys: ApiKeys, observed: Metrics | None) -> None:
    """Add the hooks to ``app``; ``observed`` is None when metrics are off."""

    @app.before_request
    def before() -> None:
        environ = request.environ
        g.started = time.perf_counter()
        supplied = environ.get("HTTP_X_REQUEST_ID", "")
        g.request_id = supplied if _REQUEST_ID.match(supplied) else os.urandom(16).hex()
        keys.authenticate()  # after the request id: a 401 carries one too

    @app.after_request
    def after(response: Response) -> Response:
        route = route_template(app)
        request_id = g.get("request_id", "-")
        # For gunicorn's access log line (app/observability/logs.py): the route template, not the path.
        environ = request.environ
        environ[logs.ROUTE_ENVIRON_KEY] = route
        environ[logs.REQUEST_ID_ENVIRON_KEY] = request_id
        if observed is not None and "started" in g:
            observed.observe(request.method, route, response.status_code, time.perf_counter() - g.started)
        headers = response.headers
        if response.status_code in (204, 304):
            headers.pop("Content-Type", None)  # no body, so no type
        # Appended, not set: no route sets these three (each set would scan the list).
        headers.add("X-Request-ID", request_id)
        headers.add("X-Content-Type-Options", "nosniff")
        if "Cache-Control" not in headers:
            headers.add("Cache-Control", "no-store")
        return response


def route_template(app: Flask) -> str:
    """The rule that matched, or for a 405 the rule whose path matched; else "unmatched"."""
    if request.url_rule is not None:
        return request.url_rule.rule
    error = request.routing_exception
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        # Routing stopped at the method, so url_rule is unset: match again with a method it allows.
        adapter = app.create_url_adapter(request)
        if adapter is not None:
            rule, _ = adapter.match(method=next(iter(error.valid_methods)), return_rule=True)
            return rule.rule
    return "unmatched"
