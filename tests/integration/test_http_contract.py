"""The HTTP contract against the real service (gunicorn) on real Redis servers.

Every test here runs twice: on a 6-node Redis Cluster and on a standalone Redis.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.listing import listed_ids
from tests.support.service import Http

UNKNOWN = "/customers/00000000-0000-4000-8000-000000000000"
DIFFERS = "is read-only and differs from the stored value"


def is_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


def test_readme_walkthrough(backend):
    http = backend.http
    created = []
    for name, balance in (("Ada Lovelace", 120.5), ("Alan Turing", 99), ("Grace Hopper", 0.3)):
        response = http.post("/customers", json={"name": name, "email": "x@example.com", "balance": balance})
        assert response.status_code == 201
        assert response.headers["Location"] == f"/customers/{response.json()['id']}"
        assert response.headers["ETag"]
        created.append(response.json())

    listing = http.get("/customers")
    assert listing.status_code == 200
    assert [c["name"] for c in listing.json()] == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]

    location = f"/customers/{created[0]['id']}"
    updated = http.put(location, json={"balance": 0})
    assert updated.status_code == 204
    fetched = http.get(location)
    assert fetched.status_code == 200
    assert fetched.json()["balance"] == 0
    assert fetched.json()["name"] == "Ada Lovelace"
    assert fetched.headers["ETag"] == updated.headers["ETag"]

    assert http.delete(location).status_code == 204
    is_problem(http.get(location), 404)
    assert [c["name"] for c in http.get("/customers").json()] == ["Alan Turing", "Grace Hopper"]


def test_stored_as_one_readable_hash(backend):
    body = backend.http.post("/customers", json={"name": "Ada", "phone": "555 0100", "balance": 12.5}).json()
    stored = backend.redis.hgetall(f"customer:{body['id']}")
    # Timestamps as microseconds since 1970 (Redis keeps them as integers); shown as RFC 3339.
    micros = (datetime.fromisoformat(body["created_at"]) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        microseconds=1
    )
    assert stored == {
        "name": "Ada",
        "phone": "555 0100",
        "balance": "12.5",
        "created_at": str(micros),
        "updated_at": str(micros),
    }


def test_status_codes_and_headers(backend):
    http = backend.http
    created = http.post("/customers", json={"name": "Ada", "email": "ada@example.com"})
    location = created.headers["Location"]

    represented = http.patch(location, json={"email": None}, headers={"Prefer": "return=representation"})
    assert represented.status_code == 200
    assert represented.json()["email"] is None
    assert represented.headers["ETag"] not in (None, created.headers["ETag"])

    merge = http.patch(
        location, data='{"address": "Somewhere"}', headers={"Content-Type": "application/merge-patch+json"}
    )
    assert merge.status_code == 204
    assert merge.headers["ETag"] == http.get(location).headers["ETag"]

    for method in ("put", "patch", "delete"):
        is_problem(getattr(http, method)(UNKNOWN, json={"name": "x"}), 404)
    is_problem(http.get("/customers/not-a-uuid"), 404)
    is_problem(http.get("/no/such/route"), 404)
    is_problem(http.delete("/customers"), 405)
    assert "POST" in http.delete("/customers").headers["Allow"]
    is_problem(http.post("/customers", data="{", headers={"Content-Type": "application/json"}), 400)
    is_problem(http.post("/customers", data="name=Ada"), 415)
    is_problem(http.post("/customers", json={"name": "x" * 70_000}), 413)
    problem = is_problem(http.post("/customers", json={"name": "Ada", "shoe_size": 9}), 422)
    assert problem["errors"] == [{"field": "shoe_size", "message": "is not a known field"}]
    is_problem(http.get("/customers?limit=5000"), 400)
    health = http.get("/healthz")
    assert health.json() == {"status": "ok"}
    assert not any(ch.isdigit() for ch in health.headers.get("Server", "")), "no version in Server"
    assert health.headers["X-Content-Type-Options"] == "nosniff"
    assert http.get("/readyz").json() == {"status": "ready"}


def test_a_get_body_can_be_sent_back_but_read_only_fields_cannot_change(backend):
    http = backend.http
    location = http.post("/customers", json={"name": "Ada", "email": "ada@example.com"}).headers["Location"]
    body = http.get(location).json()
    assert http.put(location, json=body).status_code == 204
    body = http.get(location).json()
    merge = {"Content-Type": "application/merge-patch+json"}
    assert http.patch(location, json=body, headers=merge).status_code == 204
    body = http.get(location).json()

    changed = is_problem(http.put(location, json={**body, "created_at": "2000-01-01T00:00:00.000000Z"}), 422)
    assert changed["errors"] == [{"field": "created_at", "message": DIFFERS}]
    other = is_problem(http.patch(location, json={**body, "id": str(uuid.uuid4())}), 422)
    assert other["errors"] == [{"field": "id", "message": DIFFERS}]
    assert http.put(location, json={**body, "id": body["id"].upper()}).status_code == 204
    # That write moved updated_at: the body read before it is now stale.
    stale = is_problem(http.put(location, json={**body, "name": "Late"}), 422)
    assert stale["errors"] == [{"field": "updated_at", "message": DIFFERS}]
    # A stale If-Match is reported first: re-reading is what fixes both.
    etag = http.get(location).headers["ETag"]
    http.patch(location, json={"balance": 1})
    assert http.put(location, json=body, headers={"If-Match": etag}).status_code == 412
    assert http.get(location).json()["name"] == "Ada"


def test_of_writers_sending_back_the_same_get_body_exactly_one_wins(backend):
    """The timestamps are compared in the script that writes: no write slips in between."""
    writers = 8
    location = backend.http.post("/customers", json={"name": "Ada"}).headers["Location"]
    body = backend.http.get(location).json()
    start = threading.Barrier(writers)

    def put(i):
        start.wait(timeout=10)
        return Http(backend.service.url).put(location, json={**body, "balance": i}).status_code

    with ThreadPoolExecutor(writers) as pool:
        statuses = sorted(pool.map(put, range(writers)))
    assert statuses == [204] + [422] * (writers - 1)


def test_updates_never_create(backend):
    missing = str(uuid.uuid4())
    assert backend.http.put(f"/customers/{missing}", json={"balance": 5}).status_code == 404
    assert backend.redis.exists(f"customer:{missing}") == 0


def test_redis_failure_is_a_500_that_leaks_nothing(backend):
    customer_id = str(uuid.uuid4())
    backend.redis.set(f"customer:{customer_id}", "not a hash")  # a foreign program's mistake
    problem = is_problem(backend.http.get(f"/customers/{customer_id}"), 500)
    assert "WRONGTYPE" not in str(problem)
    assert "Traceback" not in str(problem)


def test_sample_data_is_served_then_listed_after_reindex(backend, reindex):
    customer_id = str(uuid.uuid4())
    backend.redis.hset(
        f"customer:{customer_id}",
        mapping={
            "name": "From the sample",
            "address": "1 Main St",
            "phone": "555-0100",
            "email": "old@example.com",
            "balance": "100",
        },
    )
    fetched = backend.http.get(f"/customers/{customer_id}")
    assert fetched.status_code == 200
    assert fetched.json()["balance"] == 100
    assert backend.http.get("/customers").json() == []

    reindex(backend)

    assert [c["id"] for c in backend.http.get("/customers").json()] == [customer_id]
    assert backend.redis.hget(f"customer:{customer_id}", "address") == "1 Main St"


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_pages_chain_through_link_headers(backend, limit):
    ids = [backend.http.post("/customers", json={"name": f"c{i}"}).json()["id"] for i in range(15)]
    assert listed_ids(backend.http.get, f"/customers?limit={limit}") == ids
