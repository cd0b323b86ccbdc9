"""Listing on a real 6-node cluster: every shard, every customer, exactly once."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

from tests.support.listing import listed_ids
from tests.support.service import Http

TOTAL = 10_000


def test_customers_are_spread_over_every_primary_and_all_listed(on_cluster):
    ids = [on_cluster.http.post("/customers", json={"name": f"c{i}"}).json()["id"] for i in range(60)]
    owners = {on_cluster.redis.get_node_from_key(f"customer:{i}").name for i in ids}
    assert len(owners) == 3, "60 random ids should land on all three primaries"
    assert listed_ids(on_cluster.http.get, "/customers?limit=25") == ids


def test_walking_10000_customers_finds_each_exactly_once_while_others_churn(on_cluster):
    def create(i):
        response = Http(on_cluster.service.url).post("/customers", json={"name": f"c{i}", "balance": i})
        assert response.status_code == 201
        return response.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        stable = set(pool.map(create, range(TOTAL)))
    assert len(stable) == TOTAL

    # While the walk runs, other customers come and go: they may or may not be
    # seen, but every customer that exists for the whole walk appears once.
    stop = threading.Event()
    rng = random.Random(7)

    def churn():
        http = Http(on_cluster.service.url)
        for i in range(2_000):
            if stop.is_set():
                return
            location = http.post("/customers", json={"name": f"churn{i}"}).headers["Location"]
            if rng.random() < 0.5:
                http.delete(location)

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        seen = listed_ids(on_cluster.http.get, "/customers?limit=250")
    finally:
        stop.set()
        churner.join(timeout=60)
    stable_seen = [i for i in seen if i in stable]
    assert len(stable_seen) == TOTAL
    assert set(stable_seen) == stable
    assert len(seen) == len(set(seen)), "no customer may appear twice"
