"""The floor: the thinnest Python WSGI service that does the service's Redis work.

The benchmark compares the real service with this callable under the same
gunicorn settings, so the ratio measures what Flask, validation, the Lua
scripts and the index cost, not what Python, gunicorn or Redis cost. It does
exactly one Redis command per request where the service's job allows:

* ``GET /customers/<id>``: one ``HGETALL customer:<id>``;
* ``POST /customers``: one ``HSET`` (no validation, no index entry);
* ``PATCH`` and ``PUT /customers/<id>``: one ``HSET`` of the given fields;
* ``DELETE /customers/<id>``: one ``DEL`` (404 when it deleted nothing);
* ``GET /customers?limit=N``: one ``ZRANGE customers:index ... BYLEX`` and one
  pipeline of ``HGETALL`` (a page cannot be read with less);
* ``GET /healthz``: no Redis, so the benchmark can wait for it.

It reads ``DBHOST`` and ``DBPORT`` as the service does, and builds its cluster
client lazily, in the worker after gunicorn's fork (a pool must not cross a
fork). Responses are encoded with orjson. With ``DB_WAIT_REPLICAS=n`` each
write is followed by ``WAIT n`` on the key owner's connection, in one
pipeline, as app/durable.py does: the least a durable write costs.
"""

from __future__ import annotations

import base64
import functools
import os
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import orjson
from redis.cluster import RedisCluster

_JSON = [("Content-Type", "application/json")]
WAIT_TIMEOUT_MS = 500  # the service's DB_WAIT_TIMEOUT_MS default


@functools.cache
def redis_client() -> RedisCluster:
    """The worker's cluster client, built on first use (after the fork), then kept."""
    return RedisCluster(host=os.environ["DBHOST"], port=int(os.environ["DBPORT"]), decode_responses=True)


@functools.cache
def wait_replicas() -> int:
    return int(os.environ.get("DB_WAIT_REPLICAS") or 0)


def write(key: str, command: Callable[[Any], Any]) -> Any:
    """``command(client)``; with DB_WAIT_REPLICAS, then WAIT, both on the owner's connection."""
    replicas = wait_replicas()
    if not replicas:
        return command(redis_client())
    pipe = redis_client().get_node_from_key(key).redis_connection.pipeline(transaction=False)
    command(pipe)
    pipe.wait(replicas, WAIT_TIMEOUT_MS)
    reply, confirmed = pipe.execute()
    if confirmed < replicas:
        raise RuntimeError(f"{confirmed} of {replicas} replicas confirmed the write")
    return reply


Reply = tuple[int, bytes, list[tuple[str, str]]]  # status, body, extra headers
_REASONS = {200: "200 OK", 201: "201 Created", 204: "204 No Content", 404: "404 Not Found"}


def app(environ, start_response):
    """Route by method and path with plain string checks: nothing else runs."""
    method = environ["REQUEST_METHOD"]
    path = environ["PATH_INFO"]
    reply: Reply = (404, b'{"status":404}', [])
    if path.startswith("/customers/"):
        customer_id = path[len("/customers/") :]
        if method == "GET":
            reply = get_customer(customer_id)
        elif method in ("PATCH", "PUT"):
            reply = patch_customer(customer_id, read_json(environ))
        elif method == "DELETE":
            reply = delete_customer(customer_id)
    elif path == "/customers":
        if method == "GET":
            reply = list_customers(parse_qs(environ.get("QUERY_STRING", "")))
        elif method == "POST":
            reply = create_customer(read_json(environ))
    elif path == "/healthz":
        reply = (200, b'{"status":"ok"}', [])
    status, body, headers = reply
    start_response(_REASONS[status], [*_JSON, ("Content-Length", str(len(body))), *headers])
    return [body]


def get_customer(customer_id: str) -> Reply:
    """One HGETALL."""
    fields = redis_client().hgetall(f"customer:{customer_id}")
    if not fields:
        return 404, b'{"status":404}', []
    return 200, orjson.dumps({"id": customer_id, **fields}), []


def create_customer(body: dict) -> Reply:
    """One HSET of the body's fields and the two timestamps."""
    customer_id = str(uuid.uuid4())
    stamp = now()
    fields = {name: str(value) for name, value in body.items()}
    fields["created_at"] = fields["updated_at"] = stamp
    key = f"customer:{customer_id}"
    write(key, lambda client: client.hset(key, mapping=fields))
    return 201, orjson.dumps({"id": customer_id, **fields}), [("Location", f"/customers/{customer_id}")]


def patch_customer(customer_id: str, body: dict) -> Reply:
    """One HSET of the given fields and updated_at."""
    fields = {name: str(value) for name, value in body.items()}
    fields["updated_at"] = now()
    key = f"customer:{customer_id}"
    write(key, lambda client: client.hset(key, mapping=fields))
    return 204, b"", []


def delete_customer(customer_id: str) -> Reply:
    """One DEL."""
    key = f"customer:{customer_id}"
    if not write(key, lambda client: client.delete(key)):
        return 404, b'{"status":404}', []
    return 204, b"", []


def list_customers(args: dict[str, list[str]]) -> Reply:
    """One ZRANGE BYLEX and one pipeline of HGETALL, as a page needs at least."""
    limit = int(args.get("limit", ["100"])[0])
    start = "-"
    if "cursor" in args:
        cursor = args["cursor"][0]
        start = "(" + base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    client = redis_client()
    members = client.zrange("customers:index", start, "+", bylex=True, offset=0, num=limit)
    pipe = client.pipeline(transaction=False)
    ids = [member.split(":", 1)[1] for member in members]
    for customer_id in ids:
        pipe.hgetall(f"customer:{customer_id}")
    page = [{"id": i, **fields} for i, fields in zip(ids, pipe.execute(), strict=True) if fields]
    return 200, orjson.dumps(page), []


def read_json(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return orjson.loads(environ["wsgi.input"].read(length))


def now() -> str:
    """The service's stored form: microseconds since 1970."""
    return str(time.time_ns() // 1000)
