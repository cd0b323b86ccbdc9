"""Workers SIGKILLed mid-create: no customer is left that the listing cannot find.

A create sends its listing entry and its hash to two primaries at once, the
entry first (app/store/repository.py). Killing workers at random while
clients create customers must leave, at worst, entries without a customer,
never a customer without an entry; and every acknowledged customer is served.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

from tests.faults import harness
from tests.faults.harness import Load
from tests.support.service import Http

KILLS = 25
SECONDS = 40


def _workers(master_pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def test_workers_killed_mid_create_leave_no_unlisted_customer(cluster, start_service):
    service = start_service(workers=2)
    acknowledged: list[str] = []

    def creates(index: int, http: Http, tally: harness.Tally, load: Load) -> None:
        done = 0
        while load.running(done):
            body = {"name": f"crash {index}-{done}"}
            response = tally.call(http, "create", "POST", "/customers", json=body)
            if response is not None and response.status_code == 201:
                acknowledged.append(response.json()["id"])
            done += 1

    kills = 0
    rng = random.Random(7)
    with Load(service.url, threads=6, seconds=SECONDS, max_requests=3000) as load:
        load.start(creates)
        time.sleep(1)
        while kills < KILLS and time.monotonic() < load.deadline - 2:
            workers = _workers(service.pid)
            if workers:
                os.kill(rng.choice(workers), signal.SIGKILL)
                kills += 1
            time.sleep(rng.uniform(0.2, 0.6))
        load.stop()

    client = cluster.client()
    index = set(client.zrange(harness.INDEX_KEY, 0, -1))
    keys = client.scan_iter("customer:*", count=1000)
    customers = {key.split(":", 1)[1]: int(client.hget(key, "created_at")) for key in keys}
    unlisted = [i for i, created in customers.items() if f"{created:016d}:{i}" not in index]
    with Http(service.url) as http:
        listed = harness.listed_ids(http)
        unserved = [i for i in acknowledged if http.get(f"/customers/{i}").status_code != 200]
    harness.report(
        "workers killed mid-create",
        requests=len(load.tally.snapshot()),
        kills=kills,
        customers=len(customers),
        orphans=len(index) - len(customers) + len(unlisted),
        **{"201": len(acknowledged)},
    )
    assert kills >= 10, f"only {kills} workers were killed: the test proved little"
    assert not unlisted, f"customers the listing cannot find: {unlisted[:5]} ({len(unlisted)} in all)"
    assert sorted(listed) == sorted(customers)  # each customer listed once
    assert not unserved, f"acknowledged customers not served: {unserved[:5]}"
    assert len(acknowledged) > 100, "too few creates were acknowledged to prove anything"
