"""Workers SIGKILLed mid-request while customers are created and their emails change (issue 12).

A worker killed between the email index write and the hash write, or
between the hash write and the removal of the old entry, leaves a stale
entry behind. Afterwards every customer that exists must be found by
``GET /customers?email=`` under exactly its stored email, and under no
other address the load used (stale entries are skipped).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import requests

from tests.support.listing import listed_ids
from tests.support.service import Http

THREADS = 4
CUSTOMERS = 12
EMAILS = [f"e{i}@example.com" for i in range(6)]
KILLS = 25
REQUESTS_PER_THREAD = 150


def _workers(master_pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master_pid:
                children.append(int(entry.name))
    return children


def test_killed_workers_never_leave_a_customer_its_email_cannot_find(cluster, start_service):
    service = start_service(workers=3)
    master = service.pid
    http = Http(service.url)
    ids = [
        http.post("/customers", json={"name": f"c{n}", "email": EMAILS[0]}).json()["id"]
        for n in range(CUSTOMERS)
    ]
    stop = threading.Event()
    kills = []

    def change(n):
        session, rng = Http(service.url), random.Random(n)
        for step in range(REQUESTS_PER_THREAD):
            if stop.is_set():
                return
            try:
                if step % 10 == 0:
                    session.post("/customers", json={"name": "new", "email": rng.choice(EMAILS)}, timeout=5)
                else:
                    url = f"/customers/{rng.choice(ids)}"
                    session.put(url, json={"email": rng.choice(EMAILS)}, timeout=5)
            except requests.RequestException:
                pass  # the worker died with the request: the client sees a broken connection

    def kill():
        rng = random.Random(99)
        while len(kills) < KILLS and not stop.is_set():
            time.sleep(rng.uniform(0.02, 0.15))
            workers = _workers(master)
            if workers:
                victim = rng.choice(workers)
                try:
                    os.kill(victim, signal.SIGKILL)
                    kills.append(victim)
                except ProcessLookupError:
                    pass

    threads = [threading.Thread(target=change, args=(n,)) for n in range(THREADS)]
    killer = threading.Thread(target=kill)
    for thread in [*threads, killer]:
        thread.start()
    killer.join(timeout=120)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert len(kills) == KILLS
    # Give gunicorn time to replace the last workers it lost.
    for _ in range(100):
        try:
            if http.get("/customers?limit=1", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.1)

    everyone = listed_ids(http.get, "/customers?limit=500")
    assert set(ids) <= set(everyone)
    stored = {i: http.get(f"/customers/{i}").json()["email"] for i in everyone}
    for email in EMAILS:
        found = listed_ids(http.get, "/customers?" + urlencode({"email": email, "limit": 7}))
        expected = [i for i in everyone if stored[i] == email]
        assert found == expected, f"{email}: found {found}, stored on {expected}"
