"""A GET body sent back with PUT or PATCH: read-only fields pass only when unchanged.

The timestamps are compared by the update script (fakeredis runs its Lua);
that the comparison is atomic with the write is shown on real servers in
tests/integration/test_http_contract.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.customers.model import ReadOnlyFieldDiffers
from app.store.repository import CustomerRepository
from app.store.timestamps import stored_forms

DIFFERS = "is read-only and differs from the stored value"
ADA = {"name": "Ada", "email": "ada@example.com", "phone": "555 0100", "balance": 1}


@pytest.fixture
def repository(redis_client):
    # 1 ms per reading: two writes never share an updated_at.
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ticks = iter(range(1, 1_000_000))
    return CustomerRepository(redis_client, clock=lambda: start + timedelta(milliseconds=next(ticks)))


def fetched(client):
    location = client.post("/customers", json=ADA).headers["Location"]
    return location, client.get(location).get_json()


def errors(response):
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.get_json()["errors"]


@pytest.mark.parametrize(
    ("method", "content_type"),
    [("put", "application/json"), ("patch", "application/json"), ("patch", "application/merge-patch+json")],
)
def test_a_get_body_sent_back_is_accepted(client, method, content_type):
    location, body = fetched(client)
    response = getattr(client, method)(location, json=body, content_type=content_type)
    assert response.status_code == 204, response.get_data(as_text=True)
    after = client.get(location).get_json()
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in body.items() if k != "updated_at"
    }


def test_the_id_may_differ_in_case_only(client):
    location, body = fetched(client)
    assert client.put(location, json={**body, "id": body["id"].upper()}).status_code == 204
    other = str(uuid.uuid4())
    assert errors(client.put(location, json={"id": other})) == [{"field": "id", "message": DIFFERS}]
    assert errors(client.put(location, json={"id": "not-a-uuid"})) == [{"field": "id", "message": DIFFERS}]


@pytest.mark.parametrize("field", ["created_at", "updated_at"])
@pytest.mark.parametrize(
    "value", ["2000-01-01T00:00:00.000000Z", "2026-13-01T00:00:00.000000Z", "yesterday", None]
)
def test_a_changed_timestamp_is_422_naming_it_and_writes_nothing(client, redis_client, field, value):
    location, body = fetched(client)
    before = redis_client.hgetall(f"customer:{body['id']}")
    response = client.put(location, json={**body, "name": "Changed", field: value})
    assert errors(response) == [{"field": field, "message": DIFFERS}]
    assert redis_client.hgetall(f"customer:{body['id']}") == before


def test_a_stale_updated_at_is_422_after_another_write(client):
    location, body = fetched(client)
    assert client.patch(location, json={"balance": 2}).status_code == 204
    response = client.put(location, json={**body, "balance": 3})
    assert errors(response) == [{"field": "updated_at", "message": DIFFERS}]
    assert client.get(location).get_json()["balance"] == 2


def test_only_read_only_fields_change_nothing(client):
    created = client.post("/customers", json=ADA)
    body = created.get_json()
    response = client.patch(created.headers["Location"], json={k: body[k] for k in ("id", "created_at")})
    assert response.status_code == 204
    assert response.headers["ETag"] == created.headers["ETag"]


def test_read_only_fields_that_are_not_text_are_422(client):
    location, body = fetched(client)
    for field in ("id", "created_at", "updated_at"):
        assert [e["field"] for e in errors(client.put(location, json={**body, field: 5}))] == [field]
    assert [e["field"] for e in errors(client.put(location, json={"id": None}))] == ["id"]


def test_post_still_refuses_read_only_fields(client):
    body = {**ADA, "id": str(uuid.uuid4()), "created_at": "2026-01-01T00:00:00.000000Z"}
    problem = client.post("/customers", json=body).get_json()
    assert problem["status"] == 422
    assert {e["field"]: e["message"] for e in problem["errors"]} == {
        "id": "is read-only",
        "created_at": "is read-only",
    }


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("1767225600000001", "2026-01-01T00:00:00.000001Z"),  # the service's form
        ("000123", "1970-01-01T00:00:00.000123Z"),  # leading zeros: still microseconds
        ("0", "1970-01-01T00:00:00.000000Z"),
        ("2026-01-02T03:04:05.678901Z", "2026-01-02T03:04:05.678901Z"),  # text of earlier versions
        ("2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05+00:00"),
        ("9" * 17, "9" * 17),  # digits, but too many to be microseconds: text
        ("", ""),
    ],
)
def test_what_a_get_shows_is_what_the_update_script_accepts(client, redis_client, stored, shown):
    customer_id = str(uuid.uuid4())
    redis_client.hset(f"customer:{customer_id}", mapping={"name": "Old", "created_at": stored})
    body = client.get(f"/customers/{customer_id}").get_json()
    assert body["created_at"] == shown
    assert body["updated_at"] is None
    assert client.put(f"/customers/{customer_id}", json=body).status_code == 204


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        ("000123", "000123"),  # shown as a date, so its digits are not what a GET showed
        ("123", "123"),
        ("1767225600000001", "2026-01-01T00:00:00.000002Z"),
        ("2026-01-02T03:04:05.678901Z", "2026-01-02T03:04:05.678902Z"),
        ("1767225600000001", None),
    ],
)
def test_what_a_get_does_not_show_is_refused(repository, redis_client, stored, sent):
    customer_id = str(uuid.uuid4())
    redis_client.hset(f"customer:{customer_id}", mapping={"name": "Old", "created_at": stored})
    with pytest.raises(ReadOnlyFieldDiffers):
        repository.update(customer_id, {"name": "New"}, [], unchanged={"created_at": sent})
    assert redis_client.hget(f"customer:{customer_id}", "name") == "Old"


def test_stored_forms_name_both_stored_forms_of_what_is_shown():
    assert stored_forms(None) == ("n", "n")
    assert stored_forms("1970-01-01T00:00:00.000123Z") == ("t1970-01-01T00:00:00.000123Z", "m123")
    assert stored_forms("2026-02-30T00:00:00.000000Z") == ("t2026-02-30T00:00:00.000000Z",) * 2
    assert stored_forms("1969-12-31T23:59:59.999999Z") == ("t1969-12-31T23:59:59.999999Z",) * 2
