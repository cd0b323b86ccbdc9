"""The HTTP contract, over an in-memory store (fakeredis).

These pin down status codes, headers and bodies quickly; the same behaviour
is checked against real servers in tests/integration.
"""

from __future__ import annotations

import json

import pytest

from tests.support.listing import pages

ADA = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "address": "12 St James's Square, London",
    "balance": 10.5,
}


def create(client, body=None):
    response = client.post("/customers", json=body or ADA)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response


def test_create_returns_the_customer_with_location_and_etag(client):
    response = create(client)
    body = response.get_json()
    assert response.headers["Location"] == f"/customers/{body['id']}"
    assert response.headers["ETag"].startswith('"')
    assert body["name"] == "Ada Lovelace"
    assert body["balance"] == 10.5
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")


def test_get_returns_what_was_created_and_the_same_etag(client):
    created = create(client)
    response = client.get(created.headers["Location"])
    assert response.status_code == 200
    assert response.get_json() == created.get_json()
    assert response.headers["ETag"] == created.headers["ETag"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/customers/00000000-0000-4000-8000-000000000000",
        "/customers/not-a-uuid",
        "/customers/*",
        "/customers/customer:*",
    ],
)
def test_unknown_or_malformed_id_is_404_problem(client, redis_client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 404


def test_malformed_id_never_reaches_redis(client, redis_client):
    redis_client.hset("customer:*", mapping={"name": "wildcard"})
    assert client.get("/customers/*").status_code == 404
    assert client.delete("/customers/*").status_code == 404
    assert redis_client.hgetall("customer:*") == {"name": "wildcard"}


def test_put_updates_only_the_given_fields(client):
    location = create(client).headers["Location"]
    response = client.put(location, json={"balance": 0})
    assert response.status_code == 204
    assert response.get_data() == b""
    customer = client.get(location).get_json()
    assert customer["balance"] == 0
    assert customer["name"] == "Ada Lovelace"
    assert customer["email"] == "ada@example.com"
    assert client.get(location).headers["ETag"] == response.headers["ETag"]


def test_update_changes_etag_and_updated_at(client):
    created = create(client)
    location = created.headers["Location"]
    response = client.patch(location, json={"phone": "555 0100"}, headers={"Prefer": "return=representation"})
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "return=representation"
    assert response.headers["ETag"] != created.headers["ETag"]
    body = response.get_json()
    assert body["phone"] == "555 0100"
    assert body["updated_at"] > body["created_at"]


def test_patch_null_removes_a_field_but_not_the_name(client):
    location = create(client).headers["Location"]
    response = client.patch(location, json={"email": None}, content_type="application/merge-patch+json")
    assert response.status_code == 204
    assert client.get(location).get_json()["email"] is None
    response = client.patch(location, json={"name": None})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"field": "name", "message": "cannot be removed"}]
    assert client.get(location).get_json()["name"] == "Ada Lovelace"


def test_empty_patch_changes_nothing(client):
    created = create(client)
    response = client.patch(created.headers["Location"], json={})
    assert response.status_code == 204
    assert response.headers["ETag"] == created.headers["ETag"]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_to_an_unknown_customer_are_404_and_create_nothing(client, redis_client, method):
    path = "/customers/00000000-0000-4000-8000-000000000000"
    response = getattr(client, method)(path, json={"balance": 1})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert redis_client.keys("customer:*") == []


def test_delete_removes_the_customer_and_its_listing(client, redis_client):
    location = create(client).headers["Location"]
    response = client.delete(location)
    assert response.status_code == 204
    assert client.get(location).status_code == 404
    assert client.delete(location).status_code == 404
    assert client.get("/customers").get_json() == []
    assert redis_client.zcard("customers:index") == 0


def test_list_is_oldest_first_with_next_links(client):
    ids = [create(client, {"name": f"c{i}"}).get_json()["id"] for i in range(5)]
    seen = [c["id"] for page in pages(client.get, "/customers?limit=2") for c in page.get_json()]
    assert seen == ids


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "cursor=bogus", "cursor=%FF"])
def test_bad_list_parameters_are_400(client, query):
    response = client.get(f"/customers?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "A", "email": "not-an-address"}, "email"),
        ({"name": "A", "phone": "call me"}, "phone"),
        ({"name": "A", "phone": "1" * 33}, "phone"),
        ({"name": "A", "address": "x" * 501}, "address"),
        ({"name": "A", "balance": "12.50"}, "balance"),
        ({"name": "A", "balance": True}, "balance"),
        ({"name": "A", "balance": 1.234}, "balance"),
        ({"name": "A", "balance": 1e15}, "balance"),
        ({"name": "A", "nickname": "Al"}, "nickname"),
        ({"name": "A", "id": "00000000-0000-4000-8000-000000000000"}, "id"),
    ],
)
def test_schema_violations_are_422_naming_the_field(client, body, field):
    response = client.post("/customers", json=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422
    assert field in [error["field"] for error in problem["errors"]]


def test_a_bad_phone_is_explained_in_words_not_a_pattern(client):
    response = client.post("/customers", json={"name": "A", "phone": "call me"})
    assert response.get_json()["errors"] == [
        {"field": "phone", "message": "must be 1-32 characters of digits, spaces and + - ( ) ."}
    ]


def test_body_that_is_not_an_object_is_422(client):
    response = client.post("/customers", json=["Ada"])
    assert response.status_code == 422


@pytest.mark.parametrize("data", [b"{", b"", b'{"name": NaN}', b"\xff\xfe", b"[" * 100_00 + b"]" * 100_00])
def test_malformed_json_is_400(client, data):
    response = client.post("/customers", data=data, content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_body_that_is_not_json_is_415(client):
    response = client.post("/customers", data="name=Ada", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"


def test_body_over_64_kib_is_413(client):
    response = client.post(
        "/customers", data=b'{"name": "' + b"x" * 65536 + b'"}', content_type="application/json"
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == (
        "The request body is larger than the limit of 65536 bytes (64 KiB)."
    )


def test_unknown_route_and_wrong_method_are_problems(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    response = client.delete("/customers")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_balance_keeps_every_digit(client):
    for value in ("999999999999999.99", "-999999999999999.99", "0.3", "0.01", "100"):
        response = client.post(
            "/customers", data=f'{{"name": "A", "balance": {value}}}', content_type="application/json"
        )
        assert response.status_code == 201
        raw = client.get(response.headers["Location"]).get_data(as_text=True)
        assert f'"balance":{value},' in raw


def test_balance_comes_back_as_the_same_value_in_its_shortest_form(client):
    for sent, returned in (("0.30", "0.3"), ("1.00", "1"), ("1e2", "100"), ("-0.0", "0")):
        response = client.post(
            "/customers", data=f'{{"name": "A", "balance": {sent}}}', content_type="application/json"
        )
        assert f'"balance":{returned},' in response.get_data(as_text=True), sent


def test_balance_sum_computed_by_a_client_reads_back_exactly(client):
    response = client.post(
        "/customers", data='{"name": "A", "balance": 0.10}', content_type="application/json"
    )
    location = response.headers["Location"]
    client.patch(location, data='{"balance": 0.30}', content_type="application/json")
    assert '"balance":0.3,' in client.get(location).get_data(as_text=True)


def test_unexpected_failure_is_a_bare_500(app, client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr("app.store.repository.CustomerRepository.get", explode)
    response = client.get("/customers/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    text = response.get_data(as_text=True)
    assert "hunter2" not in text
    assert "Traceback" not in text


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    assert len(generated) == 32


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


@pytest.mark.parametrize("field", ["name", "address", "email"])
def test_lone_surrogates_are_422_not_500(client, field):
    # Found by schemathesis: "\udad1" is valid JSON but not storable text.
    body = {"name": "A", field: "x\udad1y" if field != "email" else "a\udad1@example.com"}
    response = client.post("/customers", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert field in [error["field"] for error in response.get_json()["errors"]]
