"""The customers service: a Flask-RESTful API over Redis."""

from __future__ import annotations

import logging
import os
import re
import time

from flask import Flask, Response, g, request
from flask_restful import Api
from werkzeug.exceptions import MethodNotAllowed

from app.api import errors
from app.api.auth import ApiKeys
from app.api.resources import Customer, CustomerList, Health, OpenApi, Readiness
from app.observability import logs, metrics
from app.ops import cli, embedded
from app.settings import Settings
from app.store.provider import EXTENSION, Store
from app.store.repository import CustomerRepository

MAX_BODY_BYTES = 64 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

log = logging.getLogger(__name__)


class CustomersApi(Api):
    """Flask-RESTful with this service's JSON codec and problem+json errors."""

    def handle_error(self, e: Exception) -> Response:
        return errors.handle_error(e)


def create_app(settings: Settings | None = None, repository: CustomerRepository | None = None) -> Flask:
    """Assemble the service; ``settings`` and ``repository`` are overrides for tests."""
    # Logging is the entry point's to set up (gunicorn.conf.py), so the CLI prints no JSON lines.
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["REQUIRE_IF_MATCH"] = settings.require_if_match
    if repository is None and settings.embedded:
        if embedded.ensure_running(settings.data_dir):
            log.warning(embedded.notice(settings.data_dir))
    elif repository is None:
        log.info("database: %s", settings.database_label)
    app.extensions[EXTENSION] = Store(settings, repository)

    api = CustomersApi(app)
    api.add_resource(CustomerList, "/customers", endpoint="customers")
    api.add_resource(Customer, "/customers/<customer_id>", endpoint="customer")
    api.add_resource(Health, "/healthz", endpoint="healthz")
    api.add_resource(Readiness, "/readyz", endpoint="readyz")
    api.add_resource(OpenApi, "/openapi.json", endpoint="openapi")
    errors.register(app)
    _add_hooks(
        app,
        ApiKeys(settings.api_keys, open_metrics=not settings.metrics_require_api_key),
        metrics.init_app(app, settings),
    )
    cli.register(app)
    return app


def _add_hooks(app: Flask, keys: ApiKeys, observed: metrics.Metrics | None) -> None:
    """One hook before and one after each request: every hook costs a dispatch."""

    @app.before_request
    def before() -> None:
        environ = request.environ
        g.started = time.perf_counter()
        supplied = environ.get("HTTP_X_REQUEST_ID", "")
        g.request_id = supplied if _REQUEST_ID.match(supplied) else os.urandom(16).hex()
        keys.authenticate()  # after the request id: a 401 carries one too

    @app.after_request
    def after(response: Response) -> Response:
        route = _route_template(app)
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


def _route_template(app: Flask) -> str:
    """The rule that matched, or for a 405 the rule whose path matched; else "unmatched"."""
    if request.url_rule is not None:
        return request.url_rule.rule
    error = request.routing_exception
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        # Routing stopped at the method, so url_rule is unset: match again with a method it allows.
        adapter = app.create_url_adapter(request)
        if adapter is not None:
            rule, _ = adapter.match(method=error.valid_methods[0], return_rule=True)
            return rule.rule
    return "unmatched"
