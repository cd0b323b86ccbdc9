"""The customers service: a Flask-RESTful API over Redis."""

from __future__ import annotations

import logging

from flask import Flask, Response
from flask_restful import Api

from app.api import errors, hooks
from app.api.auth import ApiKeys
from app.api.resources import Customer, CustomerList, Health, OpenApi, Readiness
from app.observability import metrics
from app.ops import cli, embedded
from app.settings import SETTINGS_EXTENSION, Settings
from app.store.provider import REPOSITORY_EXTENSION, RepositoryProvider
from app.store.repository import CustomerRepository

MAX_BODY_BYTES = 64 * 1024

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
    if repository is None and settings.embedded:
        if embedded.ensure_running(settings.data_dir):
            log.warning(embedded.notice(settings.data_dir))
    elif repository is None:
        log.info("database: %s", settings.database_label)

    api = CustomersApi(app)
    api.add_resource(CustomerList, "/customers", endpoint="customers")
    api.add_resource(Customer, "/customers/<customer_id>", endpoint="customer")
    api.add_resource(Health, "/healthz", endpoint="healthz")
    api.add_resource(Readiness, "/readyz", endpoint="readyz")
    api.add_resource(OpenApi, "/openapi.json", endpoint="openapi")
    errors.register(app)
    observed = metrics.init_app(app, settings)
    app.extensions[SETTINGS_EXTENSION] = settings
    app.extensions[REPOSITORY_EXTENSION] = RepositoryProvider(settings, repository, observed)
    hooks.register(
        app, ApiKeys(settings.api_keys, open_metrics=not settings.metrics_require_api_key), observed
    )
    cli.register(app)
    return app
