"""The ``flask customers`` commands over an in-memory store (fakeredis), run
with Flask's CLI runner. tests/integration/test_data_tools.py runs them on
real servers, in a process of their own, as an operator does."""

from __future__ import annotations

import json
import uuid

import pytest

from app import create_app
from app.settings import Settings

pytestmark = pytest.mark.usefixtures("commands_on_fake")


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=["customers", *args])


def test_export_writes_every_customer_as_the_api_shows_it(app, client, tmp_path):
    bodies = [{"name": "Ada Lovelace", "balance": 120.5}, {"name": "Alan Turing", "email": "a@example.com"}]
    locations = [client.post("/customers", json=body).headers["Location"] for body in bodies]
    shown = sorted((client.get(location).get_json() for location in locations), key=lambda c: c["id"])

    result = invoke(app, "export")
    assert result.exit_code == 0, result.output
    assert sorted((json.loads(line) for line in result.stdout.splitlines()), key=lambda c: c["id"]) == shown

    path = tmp_path / "export.ndjson"
    to_file = invoke(app, "export", "--output", str(path))
    assert to_file.exit_code == 0, to_file.output
    assert to_file.stdout == ""
    assert sorted(path.read_text().splitlines()) == sorted(result.stdout.splitlines())


def test_import_stores_each_record_under_its_id_and_lists_it(app, client, redis_client, tmp_path):
    records = [
        {
            "id": str(uuid.uuid4()),
            "name": f"Customer {i} Ünïcode",
            "email": f"c{i}@example.com",
            "phone": None,
            "address": f"{i} Main St",
            "balance": 10.25 * i,
            "created_at": f"2026-01-01T00:00:0{i}.000123Z",
            "updated_at": f"2026-01-02T00:00:0{i}.000456Z",
            "metadata": {"crm_id": f"crm-{i}", "tier": "gold"} if i else {},
        }
        for i in range(3)
    ]
    path = tmp_path / "customers.ndjson"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")

    for _ in range(2):  # a re-run leaves the same data
        result = invoke(app, "import", str(path))
        assert result.exit_code == 0, result.output
        assert redis_client.zcard("customers:index") == 3
        assert [client.get(f"/customers/{r['id']}").get_json() for r in records] == records
        assert client.get("/customers").get_json() == records  # in created_at order
    assert redis_client.hgetall(f"customer:{records[1]['id']}")["balance"] == "10.25"


def test_reindex_lists_hashes_written_like_the_original_sample(app, client, redis_client):
    created = client.post("/customers", json={"name": "Created by the service"}).get_json()["id"]
    sample = str(uuid.uuid4())
    fields = {
        "name": "From the sample",
        "address": "1 Main St",
        "phone": "555-0100",
        "email": "old@example.com",
        "balance": "100",
    }
    redis_client.hset(f"customer:{sample}", mapping=fields)
    assert [c["id"] for c in client.get("/customers").get_json()] == [created]

    for _ in range(2):  # safe to re-run
        result = invoke(app, "reindex")
        assert result.exit_code == 0, result.output
        assert [c["id"] for c in client.get("/customers").get_json()] == [created, sample]
    stored = redis_client.hgetall(f"customer:{sample}")
    assert {name: stored[name] for name in fields} == fields
    assert "created_at" in stored, "given a place in the listing order"
    assert client.get(f"/customers/{sample}").get_json()["balance"] == 100


def test_check_config_lists_the_effective_settings_with_secrets_hidden(repository):
    settings = Settings(
        db_host="db.internal",
        db_username="customers-app",
        db_password="db-secret-0123456789",
        api_keys=("api-key-0123456789abcdef",),
        db_wait_replicas=1,
    )
    result = create_app(settings, repository).test_cli_runner().invoke(args=["customers", "check-config"])
    listing, _, rest = result.stdout.partition("\n\n")
    shown = dict(line.split(None, 1) for line in listing.splitlines())
    assert {
        "HOST": "0.0.0.0",
        "DBHOST": "db.internal",
        "DBPORT": "6379",
        "DBUSERNAME": "customers-app",
        "DBPASSWORD": "(set, hidden)",
        "REDIS_URL": "(unset)",
        "DBTLS": "false",
        "DB_WAIT_REPLICAS": "1",
        "API_KEYS": "1 keys (hidden)",
    }.items() <= shown.items()
    assert rest.startswith("database: redis://db.internal:6379\n")
    assert "TLS: off" in rest
    assert "db-secret" not in result.output
    assert "api-key-" not in result.output
