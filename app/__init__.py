"""The customers service: a Flask-RESTful API over Redis."""

from __future__ import annotations

from flask import Flask, Response
from flask_restful import Api

from app.api import errors, hooks
from app.api.auth import ApiKeys
from app.api.resources import Customer, CustomerList, Events, Health, OpenApi, Readiness
from app.observability import metrics
from app.ops import cli
from app.settings import SETTINGS_EXTENSION, Settings
from app.store.provider import REPOSITORY_EXTENSION, RepositoryProvider
from app.store.repository import CustomerRepository

MAX_BODY_BYTES = 64 * 1024


class CustomersApi(Api):
    """Flask-RESTful with this service's JSON codec and problem+json errors."""

    def handle_error(self, e: Exception) -> Response:
        return errors.handle_error(e)


def create_app(settings: Settings | None = None, repository: CustomerRepository | None = None) -> Flask:
    """Assemble the service; ``settings`` and ``repository`` are overrides for tests.

    Nothing here reaches outside the app: no connection (the repository is
    built on first use, after gunicorn forks), no logging setup and no
    servers (gunicorn.conf.py and build_client own those), no process-wide
    metrics. So one process can build several apps with different settings.
    """
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    api = CustomersApi(app)
    api.add_resource(CustomerList, "/customers", endpoint="customers")
    api.add_resource(Customer, "/customers/<customer_id>", endpoint="customer")
    api.add_resource(Events, "/events", endpoint="events")
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
