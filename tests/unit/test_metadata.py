"""Metadata over an in-memory store (fakeredis): validation, merge by key, the limit.

The same rules, the ETag and the concurrent limit are proven on a real
cluster in tests/integration/test_metadata.py.
"""

from __future__ import annotations

import pytest

from app.customers import schemas
from app.customers.model import etag_of

MERGE_PATCH = "application/merge-patch+json"
ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def create(client, metadata=None):
    body = {"name": "Ada"} if metadata is None else {"name": "Ada", "metadata": metadata}
    response = client.post("/customers", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.headers["Location"], response.get_json()


def patch(client, location, metadata):
    return client.patch(location, json={"metadata": metadata}, content_type=MERGE_PATCH)


def fields_named(response):
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    return [error["field"] for error in response.get_json()["errors"]]


def test_post_sets_metadata_and_get_shows_it(client, redis_client):
    location, created = create(client, {"crm_id": "42", "a.b-c_D9": "x"})
    assert created["metadata"] == {"a.b-c_D9": "x", "crm_id": "42"}
    assert client.get(location).get_json()["metadata"] == {"a.b-c_D9": "x", "crm_id": "42"}
    stored = redis_client.hgetall(f"customer:{created['id']}")
    assert stored["metadata.crm_id"] == "42"
    assert stored["metadata.a.b-c_D9"] == "x"


def test_a_customer_without_metadata_shows_an_empty_object(client, redis_client):
    location, created = create(client)
    assert created["metadata"] == {}
    assert client.get(location).get_json()["metadata"] == {}
    assert not any(name.startswith("metadata") for name in redis_client.hgetall(f"customer:{created['id']}"))


def test_a_hash_the_sample_wrote_shows_empty_metadata(client, redis_client):
    customer_id = ID
    redis_client.hset(f"customer:{customer_id}", mapping={"name": "Old", "balance": "1"})
    assert client.get(f"/customers/{customer_id}").get_json()["metadata"] == {}
    assert client.get("/customers").status_code == 200


@pytest.mark.parametrize("method", ["put", "patch"])
def test_put_and_patch_merge_key_by_key(client, method):
    location, _ = create(client, {"crm_id": "42", "tier": "gold"})
    response = getattr(client, method)(location, json={"metadata": {"tier": "silver", "region": "eu"}})
    assert response.status_code == 204
    assert client.get(location).get_json()["metadata"] == {"crm_id": "42", "region": "eu", "tier": "silver"}


def test_null_removes_one_key_and_null_for_the_object_removes_all(client, redis_client):
    location, created = create(client, {"crm_id": "42", "tier": "gold"})
    assert patch(client, location, {"crm_id": None}).status_code == 204
    assert client.get(location).get_json()["metadata"] == {"tier": "gold"}
    assert patch(client, location, None).status_code == 204
    shown = client.get(location).get_json()
    assert shown["metadata"] == {}
    assert shown["name"] == "Ada"
    assert shown["updated_at"] > created["updated_at"]
    assert not any(k.startswith("metadata.") for k in redis_client.hgetall(f"customer:{created['id']}"))


def test_an_empty_object_and_removing_an_absent_key_change_no_metadata(client):
    location, _ = create(client, {"crm_id": "42"})
    assert patch(client, location, {}).status_code == 204
    assert patch(client, location, {"never_set": None}).status_code == 204
    assert client.get(location).get_json()["metadata"] == {"crm_id": "42"}


def test_other_fields_leave_metadata_alone(client):
    location, _ = create(client, {"crm_id": "42"})
    assert client.put(location, json={"balance": 3}).status_code == 204
    assert client.get(location).get_json()["metadata"] == {"crm_id": "42"}


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"bad key": "x"}, "metadata.bad key"),
        ({"": "x"}, "metadata."),
        ({"k" * 41: "x"}, f"metadata.{'k' * 41}"),
        ({"é": "x"}, "metadata.é"),
        ({"crm_id": ""}, "metadata.crm_id"),
        ({"crm_id": "v" * 501}, "metadata.crm_id"),
        ({"crm_id": 42}, "metadata.crm_id"),
        ({"crm_id": {"nested": "x"}}, "metadata.crm_id"),
        ({"crm_id": "\ud800"}, "metadata.crm_id"),
        ({"crm_id": "bell \x07"}, "metadata.crm_id"),
        (["crm_id"], "metadata"),
        ("crm_id=42", "metadata"),
        ({f"k{i}": "v" for i in range(51)}, "metadata"),
    ],
)
def test_invalid_metadata_is_a_422_naming_the_key(client, metadata, field):
    assert fields_named(client.post("/customers", json={"name": "Ada", "metadata": metadata})) == [field]
    location, _ = create(client, {"kept": "yes"})
    assert fields_named(patch(client, location, metadata)) == [field]
    assert client.get(location).get_json()["metadata"] == {"kept": "yes"}


def test_the_limits_are_inclusive(client):
    most = {f"k{i:02d}": "v" * 500 for i in range(49)} | {"k" * 40: "v"}
    _, created = create(client, most)
    assert created["metadata"] == most


def test_a_value_null_in_post_is_refused(client):
    assert fields_named(client.post("/customers", json={"name": "A", "metadata": {"k": None}})) == [
        "metadata.k"
    ]


def test_metadata_null_in_post_is_none(client):
    response = client.post("/customers", json={"name": "A", "metadata": None})
    assert response.status_code == 201
    assert response.get_json()["metadata"] == {}


def test_the_limit_holds_after_the_merge_and_a_refused_merge_writes_nothing(client):
    location, _ = create(client, {f"old{i}": "v" for i in range(40)})
    before = client.get(location)
    response = patch(client, location, {**{f"new{i}": "v" for i in range(11)}, "old0": "changed"})
    assert fields_named(response) == ["metadata"]
    assert "51" in response.get_json()["errors"][0]["message"]
    after = client.get(location)
    assert after.get_json() == before.get_json()
    assert after.headers["ETag"] == before.headers["ETag"]
    # Removing one while adding eleven fits: 40 - 1 + 11 = 50.
    assert patch(client, location, {**{f"new{i}": "v" for i in range(11)}, "old1": None}).status_code == 204
    assert len(client.get(location).get_json()["metadata"]) == 50
    assert fields_named(patch(client, location, {"one_more": "v"})) == ["metadata"]
    assert patch(client, location, {"old0": "changed at the limit"}).status_code == 204
    assert patch(client, location, {"one_more": "v", "old0": None}).status_code == 204
    assert len(client.get(location).get_json()["metadata"]) == 50


def test_removing_keys_from_a_hash_over_the_limit_is_allowed(client, redis_client):
    location, created = create(client)
    redis_client.hset(f"customer:{created['id']}", mapping={f"metadata.k{i}": "v" for i in range(60)})
    assert patch(client, location, {"k0": None}).status_code == 204
    assert len(client.get(location).get_json()["metadata"]) == 59


def test_the_etag_covers_metadata(client, redis_client):
    # If-Match runs in the script's Lua, which fakeredis lacks: proven on real servers.
    location, created = create(client, {"crm_id": "42"})
    etag = client.get(location).headers["ETag"]
    stored = redis_client.hgetall(f"customer:{created['id']}")
    assert etag == f'"{etag_of(stored)}"'
    changed = patch(client, location, {"crm_id": "43"})
    assert changed.headers["ETag"] != etag
    assert changed.headers["ETag"] == client.get(location).headers["ETag"]


def test_an_idempotent_retry_with_other_metadata_is_refused(client):
    headers = {"Idempotency-Key": "k-1"}
    first = client.post("/customers", json={"name": "A", "metadata": {"a": "1"}}, headers=headers)
    again = client.post("/customers", json={"name": "A", "metadata": {"a": "1"}}, headers=headers)
    other = client.post("/customers", json={"name": "A", "metadata": {"a": "2"}}, headers=headers)
    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 422)
    assert again.get_json() == first.get_json()


def test_parse_patch_maps_the_merge_onto_hash_fields():
    patched = schemas.parse_patch({"metadata": {"a": "1", "b": None}, "phone": None}, ID)
    assert patched.changes == {"metadata.a": "1"}
    assert patched.removed == ["metadata.b", "phone"]
    assert not patched.clear_metadata
    assert schemas.parse_patch({"metadata": None}, ID).clear_metadata
    assert schemas.parse_create({"name": "A", "metadata": {"a": "1"}})["metadata.a"] == "1"


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=["customers", *args])


@pytest.mark.usefixtures("commands_on_fake")
def test_export_then_import_gives_back_the_same_metadata_and_drops_keys_added_since(app, client, tmp_path):
    location, _ = create(client, {"crm_id": "42", "note": 'quote " comma , newline \n ünï'})
    exported = tmp_path / "export.ndjson"
    assert invoke(app, "export", "--output", str(exported)).exit_code == 0
    shown = client.get(location).get_json()
    patch(client, location, {"added_later": "x", "crm_id": "changed"})
    result = invoke(app, "import", str(exported))
    assert result.exit_code == 0, result.output
    assert client.get(location).get_json() == shown


@pytest.mark.usefixtures("commands_on_fake")
def test_a_csv_metadata_cell_is_the_object_as_json_text(app, client, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(
        'name,metadata\nAda,"{""crm_id"":""42""}"\nAlan,\nGrace,not json\nLinus,"{""bad key"":""x""}"\n',
        encoding="utf-8",
    )
    result = invoke(app, "import", str(path))
    assert result.exit_code == 3, result.output  # some records skipped
    assert "line 4: metadata: must be a JSON object" in result.output
    assert "line 5: metadata.bad key:" in result.output
    shown = {c["name"]: c["metadata"] for c in client.get("/customers").get_json()}
    assert shown == {"Ada": {"crm_id": "42"}, "Alan": {}}


def test_the_openapi_document_describes_metadata(client):
    schemas_ = client.get("/openapi.json").get_json()["components"]["schemas"]
    create_ = schemas_["CustomerCreate"]["properties"]["metadata"]["anyOf"][0]
    assert create_["maxProperties"] == 50
    assert create_["propertyNames"] == {"pattern": "^[A-Za-z0-9_.-]{1,40}$"}
    assert create_["additionalProperties"]["maxLength"] == 500
    patch_ = schemas_["CustomerPatch"]["properties"]["metadata"]["anyOf"]
    assert {"type": "null"} in patch_
    assert patch_[0]["additionalProperties"]["type"] == ["string", "null"]
    assert "metadata" in schemas_["CustomerView"]["required"]
