"""Conditional requests and Idempotency-Key: the logic, over fakeredis.

fakeredis's Lua has no ``redis.sha1hex``, so every If-Match comparison made by
the server script is tested on real servers, in tests/integration/test_reliability.py.
"""

from __future__ import annotations

import pytest

from app import create_app
from app.settings import Settings


def create(client, body=None, **headers):
    return client.post("/customers", json=body or {"name": "Ada", "balance": 1}, headers=headers)


def test_if_match_on_a_missing_customer_is_404(client):
    path = "/customers/00000000-0000-4000-8000-000000000000"
    assert client.patch(path, json={"balance": 1}, headers={"If-Match": "*"}).status_code == 404


def test_if_none_match_gives_304_without_a_body(client):
    created = create(client)
    response = client.get(created.headers["Location"], headers={"If-None-Match": created.headers["ETag"]})
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == created.headers["ETag"]
    other = client.get(created.headers["Location"], headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


def test_require_if_match_makes_unconditional_writes_428(repository):
    client = create_app(Settings(require_if_match=True), repository).test_client()
    created = create(client)
    location = created.headers["Location"]
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)(location, json={"balance": 1})
        assert response.status_code == 428
        assert response.mimetype == "application/problem+json"


def test_an_idempotent_retry_returns_the_original_and_creates_nothing(client, redis_client):
    first = create(client, {"name": "Ada", "balance": 1}, **{"Idempotency-Key": "order-1"})
    assert first.status_code == 201
    client.patch(first.headers["Location"], json={"balance": 9})
    retry = create(client, {"balance": 1, "name": "Ada"}, **{"Idempotency-Key": "order-1"})
    assert retry.status_code == 201
    assert retry.get_json() == first.get_json()
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(redis_client.keys("customer:*")) == 1
    assert len(client.get("/customers").get_json()) == 1


def test_the_same_idempotency_key_with_another_body_is_422(client, redis_client):
    create(client, {"name": "Ada"}, **{"Idempotency-Key": "k"})
    response = create(client, {"name": "Bob"}, **{"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert len(redis_client.keys("customer:*")) == 1


def test_different_idempotency_keys_create_different_customers(client):
    a = create(client, {"name": "Ada"}, **{"Idempotency-Key": "a"}).get_json()["id"]
    b = create(client, {"name": "Ada"}, **{"Idempotency-Key": "b"}).get_json()["id"]
    assert a != b


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é"])
def test_malformed_idempotency_keys_are_400(client, key):
    response = client.post("/customers", json={"name": "Ada"}, headers={"Idempotency-Key": key})
    assert response.status_code == 400


def test_a_replay_after_delete_does_not_resurrect(client, redis_client):
    first = create(client, {"name": "Ada"}, **{"Idempotency-Key": "once"})
    client.delete(first.headers["Location"])
    retry = create(client, {"name": "Ada"}, **{"Idempotency-Key": "once"})
    assert retry.status_code == 201
    assert client.get(first.headers["Location"]).status_code == 404
    assert redis_client.keys("customer:*") == []


def test_an_expired_key_whose_customer_still_exists_is_refused(client, redis_client):
    first = create(client, {"name": "Ada"}, **{"Idempotency-Key": "old"})
    customer_id = first.get_json()["id"]
    redis_client.delete(f"customers:idempotency:{{customer:{customer_id}}}")  # 24 h later
    assert create(client, {"name": "Ada"}, **{"Idempotency-Key": "old"}).status_code == 422
    assert len(client.get("/customers").get_json()) == 1


def test_the_record_expires_after_24_hours(client, redis_client):
    customer_id = create(client, {"name": "Ada"}, **{"Idempotency-Key": "ttl"}).get_json()["id"]
    ttl = redis_client.ttl(f"customers:idempotency:{{customer:{customer_id}}}")
    assert 24 * 3600 - 5 < ttl <= 24 * 3600
