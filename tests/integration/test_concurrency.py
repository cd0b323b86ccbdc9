"""Concurrent requests through several gunicorn workers on real Redis servers."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.support.service import Http

ROUNDS = 25
PATCHERS = 8


def test_an_update_racing_a_delete_never_resurrects_the_customer(backend):
    """The sample's bug: an HSET landing after DEL recreated half a customer."""
    outcomes = {204: 0, 404: 0}
    with ThreadPoolExecutor(PATCHERS + 1) as pool:
        for _ in range(ROUNDS):
            location = backend.http.post("/customers", json={"name": "Racer", "balance": 1}).headers[
                "Location"
            ]
            start = threading.Barrier(PATCHERS + 1)

            def patch(i, location=location, start=start):
                start.wait(timeout=10)
                return Http(backend.service.url).patch(location, json={"address": f"street {i}"}).status_code

            def delete(location=location, start=start):
                start.wait(timeout=10)
                return Http(backend.service.url).delete(location).status_code

            patches = [pool.submit(patch, i) for i in range(PATCHERS)]
            deleted = pool.submit(delete)
            assert deleted.result() == 204
            for future in patches:
                status = future.result()
                assert status in outcomes
                outcomes[status] += 1
            assert backend.http.get(location).status_code == 404
            assert backend.redis.exists(f"customer:{location.rsplit('/', 1)[1]}") == 0
    # Both orders happened, so the race was really run: some patches landed
    # before the delete, some after it (and were refused).
    assert outcomes[204] > 0
    assert outcomes[404] > 0


def test_concurrent_creates_all_land_and_are_listed_once(backend):
    def create(i):
        return Http(backend.service.url).post("/customers", json={"name": f"c{i}"}).json()["id"]

    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(create, range(400)))
    listed = [c["id"] for c in backend.http.get("/customers?limit=1000").json()]
    assert sorted(listed) == sorted(ids)
    assert len(set(listed)) == 400
    assert all(uuid.UUID(i).version == 4 for i in ids)
