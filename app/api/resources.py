"""HTTP resources: parse the request, call the repository, shape the response."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import Response, current_app, g, request, url_for
from flask_restful import Resource

from app import json_codec
from app.api import openapi
from app.api.errors import Problem
from app.customers import schemas
from app.customers.events import represent_event
from app.customers.model import Idempotency, StoredCustomer, normalize_id
from app.customers.representation import represent
from app.settings import settings_of
from app.store.provider import repository_of

_JSON = "application/json"
_MERGE_PATCH = "application/merge-patch+json"
_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


class CustomerList(Resource):
    def get(self) -> Any:
        """List customers (all, or by email and creation time), oldest or newest first, a page at a time."""
        args = request.args.to_dict()
        try:
            query = schemas.parse_list_query(args)
        except schemas.SchemaError as exc:
            raise Problem(400, "Invalid query parameters.", kind="invalid-query", errors=exc.errors) from None
        page = repository_of(current_app).list(query.limit, query.cursor, query.filters)
        headers = {}
        if page.next_cursor:
            # The same query, continued: the cursor is valid only with it.
            given = {name: value for name, value in args.items() if name in schemas.FILTER_PARAMETERS}
            continued: dict[str, Any] = {**given, "limit": query.limit, "cursor": page.next_cursor}
            next_url = url_for("customers", **continued)
            headers["Link"] = f'<{next_url}>; rel="next"'
        return _json([represent(c.id, c.fields) for c in page.customers], 200, headers)

    def post(self) -> Any:
        """Create a customer."""
        fields = schemas.parse_create(_json_body(_JSON))
        created = repository_of(current_app).create(fields, _idempotency(fields))
        headers = {"Location": url_for("customer", customer_id=created.customer.id)}
        if created.replayed:
            headers["Idempotent-Replayed"] = "true"
        return _with_etag(created.customer, 201, headers)


class Customer(Resource):
    def get(self, customer_id: str) -> Any:
        """Return one customer (304 if If-None-Match names its version)."""
        customer = repository_of(current_app).get(_known_id(customer_id))
        if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains_weak(customer.etag):
            return _empty(304, {"ETag": f'"{customer.etag}"'})
        return _with_etag(customer, 200)

    def put(self, customer_id: str) -> Any:
        """Update the given fields of a customer; leave the others as they are."""
        return self._update(customer_id, _json_body(_JSON))

    def patch(self, customer_id: str) -> Any:
        """Apply a JSON Merge Patch (RFC 7396) to a customer."""
        return self._update(customer_id, _json_body(_JSON, _MERGE_PATCH))

    def delete(self, customer_id: str) -> Any:
        """Delete a customer (only the version If-Match names, if given)."""
        repository_of(current_app).delete(_known_id(customer_id), _if_match())
        return _empty(204)

    def _update(self, customer_id: str, body: Any) -> Any:
        known = _known_id(customer_id)
        patch = schemas.parse_patch(body, known)
        customer = repository_of(current_app).update(
            known,
            patch.changes,
            patch.removed,
            _if_match(),
            patch.unchanged,
            clear_metadata=patch.clear_metadata,
        )
        if _prefers_representation():
            return _with_etag(customer, 200, {"Preference-Applied": "return=representation"})
        return _empty(204, {"ETag": f'"{customer.etag}"'})


class Events(Resource):
    def get(self) -> Any:
        """Return the change events after a cursor, oldest first, and where to poll next."""
        if not settings_of(current_app).events_enabled:
            raise Problem(404, "Change events are turned off on this service.", kind="events-disabled")
        try:
            query = schemas.parse_list_query(request.args.to_dict())
        except schemas.SchemaError as exc:
            raise Problem(400, "Invalid query parameters.", kind="invalid-query", errors=exc.errors) from None
        page = repository_of(current_app).events(query.limit, query.cursor)
        next_url = url_for("events", limit=query.limit, cursor=page.next_cursor)
        return _json([represent_event(e) for e in page.events], 200, {"Link": f'<{next_url}>; rel="next"'})


class Health(Resource):
    def get(self) -> Any:
        """Say the process is alive; touches no database."""
        return _json({"status": "ok"})


class OpenApi(Resource):
    def get(self) -> Any:
        """Serve the OpenAPI 3.1 document of this API."""
        return _json(openapi.document())


class Readiness(Resource):
    def get(self) -> Any:
        """Say whether every primary of the database answers."""
        repository_of(current_app).ping()
        return _json({"status": "ready"})


def _known_id(raw: str) -> str:
    # A malformed id cannot name a customer, and must never reach Redis.
    customer_id = normalize_id(raw)
    if customer_id is None:
        raise Problem(404, "No customer has this id.", kind="customer-not-found")
    return customer_id


def _if_match() -> list[str] | None:
    """The strong ETags of If-Match (["*"] for any); None when it is absent."""
    if "If-Match" not in request.headers:
        if settings_of(current_app).require_if_match:
            raise Problem(
                428,
                "This service requires If-Match on writes: GET the customer and send its ETag.",
                kind="precondition-required",
            )
        return None
    if request.if_match.star_tag:
        return ["*"]
    # An empty quoted tag ("") parses as None: it can match nothing, so drop it.
    return sorted(tag for tag in request.if_match.as_set(include_weak=False) if tag)


def _idempotency(fields: dict[str, str]) -> Idempotency | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise Problem(
            400,
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            kind="invalid-idempotency-key",
        )
    # The validated fields, not the raw bytes: the same request with other
    # spacing or key order is the same request.
    fingerprint = hashlib.sha256(json_codec.dumps(dict(sorted(fields.items())))).hexdigest()
    return Idempotency(scope=g.client_scope, key=key, fingerprint=fingerprint)


def _json_body(*media_types: str) -> Any:
    if request.mimetype not in media_types:
        raise Problem(
            415,
            f"The request body must be {' or '.join(media_types)}.",
            headers={"Accept-Patch": _MERGE_PATCH} if _MERGE_PATCH in media_types else None,
        )
    try:
        return json_codec.loads(request.get_data(cache=False))
    except json_codec.MalformedJSON as exc:
        raise Problem(400, f"The request body is not valid JSON: {exc}", kind="malformed-json") from None


def _with_etag(customer: StoredCustomer, status: int, headers: dict[str, str] | None = None) -> Response:
    return _json(
        represent(customer.id, customer.fields),
        status,
        {**(headers or {}), "ETag": f'"{customer.etag}"'},
    )


# Resources return finished responses: Flask-RESTful passes them through
# without its content negotiation, which measurably cost every request.
def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json_codec.dumps(data), status, headers, mimetype="application/json")


def _empty(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(None, status, headers)


def _prefers_representation() -> bool:
    preferences = request.headers.get("Prefer", "")
    tokens = {part.strip().lower() for item in preferences.split(",") for part in item.split(";")}
    return "return=representation" in tokens
