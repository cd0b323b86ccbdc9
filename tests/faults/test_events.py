"""The change feed under faults: workers SIGKILLed mid-write, live resharding,
a primary failover with DB_WAIT_REPLICAS=1 (issue 13).

Writer threads change their own customers (each write sets an address no
other sets) while reader threads follow ``Link: rel=next`` from the start.
Afterwards every reader must have seen every acknowledged change exactly
once, no event of a change never attempted, each customer's events in the
order of its writes, and each customer's last event equal to its state
(tests/support/events.py). Every loop is bounded by counts and deadlines.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

from tests.faults import harness
from tests.support.events import History, Reader, check, write_customers
from tests.support.service import Http
from tests.support.slots import first_slot

FEED_KEY = "customers:events"
WRITERS = 3
READERS = 2
CUSTOMERS_PER_WRITER = 40
UPDATES_PER_CUSTOMER = 4
KILLS = 12
# A killed worker's events wait for the sweep (every 10 s, under a 10 s lease).
SETTLE_SECONDS = 90
WRITE_SECONDS = 120


def _workers_of(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def _run(url: str, fault, prefix: str) -> tuple[History, list[Reader]]:
    """Write and read while ``fault()`` runs in this thread; return what was written and seen."""
    history = History()
    deadline = time.monotonic() + WRITE_SECONDS

    def write(index: int) -> None:
        with Http(url) as session:
            write_customers(
                session,
                history,
                f"{prefix}{index}",
                customers=CUSTOMERS_PER_WRITER,
                updates=UPDATES_PER_CUSTOMER,
                running=lambda: time.monotonic() < deadline,
            )

    writers = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(WRITERS)]
    readers = [Reader(Http(url), limit) for limit in (13, 500)][:READERS]

    def caught_up(reader: Reader) -> bool:
        return not any(w.is_alive() for w in writers) and reader.has_all(history)

    follow_until = deadline + SETTLE_SECONDS
    reading = [
        threading.Thread(target=r.follow, args=(caught_up, follow_until), daemon=True) for r in readers
    ]
    for thread in writers + reading:
        thread.start()
    fault(history)
    for thread in writers:
        thread.join(WRITE_SECONDS + 30)
    for thread in reading:
        thread.join(SETTLE_SECONDS + WRITE_SECONDS + 30)
    assert not any(t.is_alive() for t in writers + reading), "client threads did not stop"
    return history, readers


def _assert_feed(history: History, readers: list[Reader], http: Http, prefix: str, test: str) -> None:
    problems = [problem for reader in readers for problem in check(reader.events, history, http, prefix)]
    harness.report(
        test,
        acknowledged=history.acknowledged(),
        events=[len(r.events) for r in readers],
        problems=len(problems),
        reader_errors=sum(len(r.errors) for r in readers),
    )
    assert not problems, problems[:10]
    for reader in readers:
        assert reader.has_all(history), "a reader did not see every acknowledged change"
        reader.http.close()


def test_workers_killed_mid_write_lose_and_invent_no_event(cluster, start_service):
    service = start_service(workers=2)
    master = service._process.pid
    rng = random.Random(13)
    kills = []

    def kill_workers(history: History) -> None:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.2))
            workers = _workers_of(master)
            if workers:
                os.kill(rng.choice(workers), signal.SIGKILL)
                kills.append(time.monotonic())

    with Http(service.url) as http:
        history, readers = _run(service.url, kill_workers, "k")
        assert len(kills) == KILLS
        assert history.acknowledged() > 100
        _assert_feed(history, readers, http, "k", f"events: {KILLS} workers SIGKILLed")


def test_live_resharding_while_writing_and_reading_keeps_the_feed_exact(cluster, start_service, tmp_path):
    service = start_service()
    feed_slot = harness.slot_of(FEED_KEY)
    source, infos = harness.owner_of_slot(cluster, feed_slot)
    target = next(info for info in infos if info.is_primary and info.id != source.id)
    slots = max(1000, feed_slot - first_slot(source.slots) + 1)
    outcome = {}

    def reshard(history: History) -> None:
        time.sleep(2)  # some events first
        process = harness.start_reshard(cluster, source.id, target.id, slots, tmp_path / "reshard.log")
        try:
            process.wait(90)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        outcome["returncode"] = process.returncode

    with Http(service.url) as http:
        history, readers = _run(service.url, reshard, "r")
        assert outcome["returncode"] == 0, (tmp_path / "reshard.log").read_text()[-2000:]
        owner, _ = harness.owner_of_slot(cluster, feed_slot)
        assert owner.id == target.id  # the feed itself moved while it was written and read
        _assert_feed(history, readers, http, "r", f"events: reshard {slots} slots")


def test_primary_failover_with_wait_replicas_loses_and_invents_no_event(cluster, start_service):
    victim_info, infos = harness.owner_of_slot(cluster, harness.slot_of(FEED_KEY))
    heir_info = harness.replica_of(infos, victim_info)
    victim = harness.node_by_port(cluster, victim_info.port)
    heir = harness.node_by_port(cluster, heir_info.port)
    endpoint = next(p for p in cluster.ports if p not in (victim.port, heir.port))
    service = start_service({"DB_WAIT_REPLICAS": "1", "DB_WAIT_TIMEOUT_MS": "1000"}, dbport=endpoint)
    outcome = {}

    def fail_over(history: History) -> None:
        time.sleep(2)
        victim.kill()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and harness.role(heir) != "master":
            time.sleep(0.1)
        outcome["promoted"] = harness.role(heir) == "master"
        victim.start()  # back as a replica: writes to that shard can be confirmed again
        cluster.wait_ready(timeout=30)

    with Http(service.url) as http:
        history, readers = _run(service.url, fail_over, "f")
        assert outcome["promoted"], "the replica was not promoted"
        _assert_feed(history, readers, http, "f", "events: failover of the feed's primary, WAIT 1")
