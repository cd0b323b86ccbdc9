"""Every error the service returns, as ``application/problem+json`` (RFC 9457).

Domain exceptions are mapped to HTTP here, once. Anything unexpected becomes
a 500 whose body says nothing about the cause; the traceback goes to the log
with the request id, never to the client.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, request
from redis.exceptions import ClusterDownError, RedisClusterException, RedisError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException

from app import json_codec
from app.customers.model import (
    MAX_METADATA_KEYS,
    CustomerNotFound,
    EmailChangeContended,
    EmailTaken,
    EventsExpired,
    IdempotencyKeyReused,
    PreconditionFailed,
    ReadOnlyFieldDiffers,
    TooManyMetadataKeys,
)
from app.customers.schemas import READ_ONLY_DIFFERS, SchemaError
from app.store.cursors import InvalidCursor
from app.store.durable import WriteNotDurable

log = logging.getLogger(__name__)

# Problem types particular to this service are tag URIs (RFC 4151): names, not
# links; plain HTTP failures use "about:blank" as RFC 9457 says.
PROBLEM_TYPE_BASE = "tag:customers-service,2026:problem:"
RETRY_AFTER_SECONDS = 1
# RedisClusterException is what the cluster client raises when no startup node
# answers while it builds its slot map.
_UNAVAILABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    TryAgainError,
    RedisClusterException,
)

# Exceptions that always stand for the same problem: (status, detail, kind).
_FIXED: dict[type[Exception], tuple[int, str, str]] = {
    CustomerNotFound: (404, "No customer has this id.", "customer-not-found"),
    InvalidCursor: (
        400,
        "The cursor is not one this service handed out for this query (same filters and order).",
        "invalid-cursor",
    ),
    EventsExpired: (
        410,
        "Events after this cursor are past the retention period and gone: resynchronise "
        "from GET /customers, then follow GET /events from the start (without a cursor).",
        "events-expired",
    ),
    EmailTaken: (409, "Another customer has this email (emails are unique here).", "email-taken"),
    EmailChangeContended: (
        409,
        "Other writes kept changing this customer's email; retry.",
        "email-contended",
    ),
}


class Problem(Exception):
    """An error response: raise it anywhere in a request."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str = "",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.headers = headers or {}
        self.extra = extra


# The body problem_response writes, for the OpenAPI document.
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def problem_response(problem: Problem) -> Response:
    """Render a ``Problem`` as the one error shape of this service."""
    body = {
        "type": PROBLEM_TYPE_BASE + problem.kind if problem.kind else "about:blank",
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
        **problem.extra,
    }
    response = Response(json_codec.dumps(body), problem.status, mimetype="application/problem+json")
    response.headers.update(problem.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def to_problem(error: BaseException) -> Problem:
    """Map any exception raised while handling a request to a ``Problem``."""
    if isinstance(error, Problem):
        return error
    error = _found_by_the_write(error)
    if isinstance(error, SchemaError):
        return Problem(
            422,
            "The request body does not match the customer schema.",
            kind="validation-error",
            errors=error.errors,
        )
    for exception, (status, detail, kind) in _FIXED.items():
        if isinstance(error, exception):
            return Problem(status, detail, kind=kind)
    if isinstance(error, PreconditionFailed):
        return Problem(
            412,
            "If-Match does not name the current version of this customer.",
            kind="precondition-failed",
            headers={"ETag": f'"{error.current_etag}"'},
        )
    if isinstance(error, IdempotencyKeyReused):
        return Problem(422, f"Idempotency-Key cannot be reused: {error}.", kind="idempotency-key-reused")
    if isinstance(error, WriteNotDurable):
        log.warning("write not confirmed durable: %s (request %s)", error, g.get("request_id"))
        return Problem(
            503,
            "The write reached the primary but not enough replicas confirmed it in time; "
            "it is not confirmed durable. Retry it.",
            kind="write-not-durable",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(error, HTTPException) and error.code:
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return Problem(error.code, _http_detail(error), headers=headers)
    if isinstance(error, _UNAVAILABLE):
        log.warning("database unavailable (request %s): %s", g.get("request_id"), error)
        return Problem(
            503,
            "The database is unavailable; retry shortly.",
            kind="database-unavailable",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(error, RedisError):
        log.error("database error (request %s): %s", g.get("request_id"), error)
    else:
        log.exception("unhandled error (request %s)", g.get("request_id"), exc_info=error)
    return Problem(500, "The service failed to handle this request.")


def _found_by_the_write(error: BaseException) -> BaseException:
    """Refusals the write itself finds are, to the client, the same mistake as a bad body."""
    if isinstance(error, ReadOnlyFieldDiffers):
        return SchemaError([{"field": error.field, "message": READ_ONLY_DIFFERS}])
    if isinstance(error, TooManyMetadataKeys):
        message = f"would have {error.count} keys after this change; at most {MAX_METADATA_KEYS} are allowed"
        return SchemaError([{"field": "metadata", "message": message}])
    return error


def handle_error(error: BaseException) -> Response:
    """Flask and Flask-RESTful error handler: every error becomes problem+json."""
    return problem_response(to_problem(error))


def register(app: Flask) -> None:
    """Route every error, in any view, through ``handle_error``."""
    app.register_error_handler(Exception, handle_error)


def _http_detail(error: HTTPException) -> str:
    if error.code == 413 and request.max_content_length:
        limit = request.max_content_length
        return f"The request body is larger than the limit of {limit} bytes ({limit / 1024:g} KiB)."
    details = {
        404: "There is no resource at this URL.",
        405: "This method is not allowed on this resource.",
        415: "The request body must be application/json.",
    }
    return details.get(error.code or 0, HTTPStatus(error.code or 500).description)
