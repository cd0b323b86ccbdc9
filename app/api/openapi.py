"""The OpenAPI 3.1 document, built from the schema models the service validates with."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from app.api.errors import PROBLEM_SCHEMA
from app.customers.events import EventView
from app.customers.representation import CustomerView
from app.customers.schemas import FILTER_PARAMETERS, CustomerCreate, CustomerPatch, ListQuery

_REF = "#/components/schemas/{model}"
_PROBLEM = {"$ref": "#/components/responses/Problem"}
_ID = {
    "name": "customer_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The customer's UUID; anything else is simply not found (404).",
}
_ETAG = {"ETag": {"schema": {"type": "string"}, "description": "Strong validator of the stored customer."}}


def _header(name: str, description: str | None = None, **schema: Any) -> dict[str, Any]:
    """An optional request header parameter, a string unless ``schema`` says more."""
    parameter = {"name": name, "in": "header", "required": False, "schema": {"type": "string", **schema}}
    return parameter if description is None else {**parameter, "description": description}


def _schema(model: str) -> dict[str, Any]:
    return {"schema": {"$ref": _REF.format(model=model)}}


_IF_MATCH = _header("If-Match", "Write only if the customer's current ETag is listed (or `*`).")
_PATCH_SCHEMA = _schema("CustomerPatch")
_PUT_BODY = {"required": True, "content": {"application/json": _PATCH_SCHEMA}}
_PATCH_BODY = {
    "required": True,
    "content": {"application/json": _PATCH_SCHEMA, "application/merge-patch+json": _PATCH_SCHEMA},
}


# gunicorn's HTTP parser answers these itself, in plain text, before the app
# sees the request (limits in gunicorn.conf.py).
_GUNICORN = {
    "414": {"description": "Request line longer than 8190 bytes (answered by gunicorn)."},
    "431": {"description": "Too many or too large header fields (answered by gunicorn)."},
}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _PROBLEM for status in statuses} | _GUNICORN


def _customer(status: str, description: str, **headers: Any) -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "headers": {**_ETAG, **headers},
            "content": {"application/json": _schema("CustomerView")},
        }
    }


def _update(summary: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": [
            _ID,
            _IF_MATCH,
            _header("Prefer", "`return=representation` for a 200 with the customer."),
        ],
        "requestBody": body,
        "responses": {
            "204": {"description": "Updated.", "headers": _ETAG},
            **_customer("200", "Updated, with Prefer: return=representation."),
            **_errors(400, 401, 404, 409, 412, 413, 415, 422, 428, 503),
        },
    }


def _query_parameters(query: dict[str, Any]) -> list[dict[str, Any]]:
    """email, order and the created[...] bounds, as ListQuery declares them."""
    parameters = []
    for name in FILTER_PARAMETERS:
        schema = dict(query[name])
        description = schema.pop("description", None)
        schema.pop("default", None)
        schema.pop("title", None)
        if "anyOf" in schema:  # Optional[...]: a query parameter is simply left out
            schema = next(s for s in schema.pop("anyOf") if s.get("type") != "null")
        parameter = {"name": name, "in": "query", "required": False, "schema": schema}
        parameters.append({**parameter, "description": description} if description else parameter)
    return parameters


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document served at ``/openapi.json``."""
    schemas: dict[str, Any] = {}
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (CustomerCreate, "validation"),
        (CustomerPatch, "validation"),
        (CustomerView, "serialization"),
        (EventView, "serialization"),
    ]
    for model, mode in models:
        schemas[model.__name__] = model.model_json_schema(mode=mode, ref_template=_REF)
    query = ListQuery.model_json_schema(by_alias=True)["properties"]
    create_body = {"required": True, "content": {"application/json": _schema("CustomerCreate")}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "customers",
            "version": "1",
            "description": "Customer records stored in Redis. Errors are RFC 9457 problem details.",
        },
        "components": {
            "schemas": {**schemas, "Problem": PROBLEM_SCHEMA},
            "responses": {
                "Problem": {
                    "description": "An error (RFC 9457).",
                    "content": {"application/problem+json": _schema("Problem")},
                }
            },
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Needed when the service is run with API_KEYS.",
                }
            },
        },
        "security": [{"apiKey": []}, {}],
        "paths": {
            "/customers": {
                "get": {
                    "summary": "List customers (all, or by email and creation time), oldest or newest first",
                    "parameters": [
                        {"name": "limit", "in": "query", "required": False, "schema": query["limit"]},
                        {
                            "name": "cursor",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,300}$"},
                            "description": "Opaque: from the previous page's Link header; "
                            "valid only with the same email, order and created filters.",
                        },
                        *_query_parameters(query),
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of customers.",
                            "headers": {
                                "Link": {
                                    "schema": {"type": "string"},
                                    "description": 'The next page: <url>; rel="next".',
                                }
                            },
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": _REF.format(model="CustomerView")},
                                    }
                                }
                            },
                        },
                        **_errors(400, 401, 503),
                    },
                },
                "post": {
                    "summary": "Create a customer",
                    "parameters": [
                        _header(
                            "Idempotency-Key",
                            "Retries with the same key and body create nothing.",
                            minLength=1,
                            maxLength=255,
                        )
                    ],
                    "requestBody": create_body,
                    "responses": {
                        **_customer(
                            "201",
                            "Created (or, for a retried Idempotency-Key, created before).",
                            Location={"schema": {"type": "string"}},
                        ),
                        **_errors(400, 401, 409, 413, 415, 422, 503),
                    },
                },
            },
            "/customers/{customer_id}": {
                "get": {
                    "summary": "Get a customer",
                    "parameters": [_ID, _header("If-None-Match")],
                    "responses": {
                        **_customer("200", "The customer."),
                        "304": {"description": "Not modified.", "headers": _ETAG},
                        **_errors(401, 404, 503),
                    },
                },
                "put": _update("Update the given fields", _PUT_BODY),
                "patch": _update("Apply a JSON Merge Patch", _PATCH_BODY),
                "delete": {
                    "summary": "Delete a customer",
                    "parameters": [_ID, _IF_MATCH],
                    "responses": {"204": {"description": "Deleted."}, **_errors(401, 404, 412, 428, 503)},
                },
            },
            "/events": {
                "get": {
                    "summary": "Change events after a cursor, oldest first",
                    "description": "Every acknowledged create, update and delete, once each. "
                    "Follow the Link rel=next forever to see each event exactly once.",
                    "parameters": [
                        {"name": "limit", "in": "query", "required": False, "schema": query["limit"]},
                        {
                            "name": "cursor",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,200}$"},
                            "description": "Opaque: from the previous poll's Link header.",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The events after the cursor (possibly none).",
                            "headers": {
                                "Link": {
                                    "schema": {"type": "string"},
                                    "description": 'Where to poll next, always: <url>; rel="next".',
                                }
                            },
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": _REF.format(model="EventView")},
                                    }
                                }
                            },
                        },
                        **_errors(400, 401, 404, 410, 503),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "security": [{}],
                    "responses": {"200": {"description": "The process answers."}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness",
                    "security": [{}],
                    "responses": {"200": {"description": "Every primary answered PING."}, **_errors(503)},
                }
            },
        },
    }
