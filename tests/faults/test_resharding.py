"""Slots move between primaries (``redis-cli --cluster reshard``) under mixed load.

Resharding is routine operations work, not a failure: no request may fail
while it runs. Client threads create, read, update, list and delete their own
customers, checking every answer against what they know; the slots moved
include the one holding ``customers:index``, so the index itself migrates
while creates and deletes write to it. Run with and without DB_WAIT_REPLICAS,
whose writes take their own path to the key's primary.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import pytest

from tests.faults import harness
from tests.faults.harness import INDEX_KEY, Load
from tests.support.service import Http
from tests.support.slots import first_slot, slot_count

THREADS = 6
WARM_UP_CREATES = 40  # per thread, before the reshard starts
MIN_SLOTS = 1000
LOAD_SECONDS = 55
RESHARD_TIMEOUT = 45
MAX_REQUESTS_PER_THREAD = 5000
SUCCESSES_AFTER_RESHARD = 100


@dataclass
class Book:
    """What one client thread knows about its customers."""

    live: dict[str, str] = field(default_factory=dict)  # id -> address
    deleted: list[str] = field(default_factory=list)
    uncertain: set[str] = field(default_factory=set)  # a write to it got an unexpected answer
    failures: list[str] = field(default_factory=list)
    ready: bool = False


class MixedClient:
    """One client thread: creates, reads, updates, lists and deletes its own customers."""

    def __init__(self, index: int, http: Http, tally: harness.Tally, book: Book) -> None:
        self.index = index
        self.http = http
        self.tally = tally
        self.book = book
        self.rng = random.Random(index)
        self.done = 0

    def run(self, load: Load) -> None:
        while load.running(self.done):
            self.done += 1
            if not self.book.ready:
                self.create()
                self.book.ready = len(self.book.live) >= WARM_UP_CREATES
                continue
            roll = self.rng.random()
            if roll < 0.2 or len(self.book.live) < 5:
                self.create()
            elif roll < 0.45:
                self.get()
            elif roll < 0.75:
                self.patch()
            elif roll < 0.85:
                self.list()
            else:
                self.delete()

    def call(self, op: str, method: str, url: str, expected: int, **kwargs):
        response = self.tally.call(self.http, op, method, url, **kwargs)
        if response is None or response.status_code != expected:
            status = None if response is None else response.status_code
            detail = "" if response is None else response.text[:200]
            self.book.failures.append(f"{op} {url}: got {status}, expected {expected}: {detail}")
            return None
        return response

    def create(self) -> None:
        value = f"t{self.index} create {self.done}"
        body = {"name": f"c{self.done}", "address": value}
        response = self.call("create", "POST", "/customers", 201, json=body)
        if response is not None:
            self.book.live[response.json()["id"]] = value

    def get(self) -> None:
        book = self.book
        if book.deleted and self.rng.random() < 0.2:
            self.call("get", "GET", f"/customers/{self.rng.choice(book.deleted)}", 404)
            return
        customer_id = self.rng.choice(list(book.live))
        expected = book.live[customer_id]
        response = self.call("get", "GET", f"/customers/{customer_id}", 200)
        if response is not None and response.json()["address"] != expected:
            book.failures.append(f"get {customer_id}: {response.text[:200]}, expected {expected!r}")

    def patch(self) -> None:
        customer_id = self.rng.choice(list(self.book.live))
        value = f"t{self.index} patch {self.done}"
        url = f"/customers/{customer_id}"
        if self.call("patch", "PATCH", url, 204, json={"address": value}) is not None:
            self.book.live[customer_id] = value
        else:
            self.book.uncertain.add(customer_id)
            del self.book.live[customer_id]

    def list(self) -> None:
        url = f"/customers?limit={self.rng.choice((10, 100))}"
        response = self.call("list", "GET", url, 200)
        if response is not None and not isinstance(response.json(), list):
            self.book.failures.append(f"list: {response.text[:200]}")

    def delete(self) -> None:
        customer_id = self.rng.choice(list(self.book.live))
        del self.book.live[customer_id]
        if self.call("delete", "DELETE", f"/customers/{customer_id}", 204) is not None:
            self.book.deleted.append(customer_id)
        else:
            self.book.uncertain.add(customer_id)


def _mixed(books: dict[int, Book]):
    def work(index: int, http: Http, tally: harness.Tally, load: Load) -> None:
        MixedClient(index, http, tally, books.setdefault(index, Book())).run(load)

    return work


@pytest.mark.parametrize("wait_replicas", [0, 1])
def test_resharding_under_mixed_load_fails_no_request(cluster, start_service, tmp_path, wait_replicas):
    index_slot = harness.slot_of(INDEX_KEY)
    source, infos = harness.owner_of_slot(cluster, index_slot)
    target = next(info for info in infos if info.is_primary and info.id != source.id)
    # redis-cli takes a source's slots from its lowest up: move enough to
    # include the index's slot.
    slots = max(MIN_SLOTS, index_slot - first_slot(source.slots) + 1)
    service = start_service({"DB_WAIT_REPLICAS": str(wait_replicas)})

    books: dict[int, Book] = {}
    with Load(service.url, THREADS, LOAD_SECONDS, MAX_REQUESTS_PER_THREAD) as load:
        tally = load.tally
        load.start(_mixed(books))
        ready = load.wait_until(lambda: len(books) == THREADS and all(b.ready for b in books.values()), 30)
        assert ready, tally.summary()

        started = time.monotonic()
        reshard = harness.start_reshard(cluster, source.id, target.id, slots, tmp_path / "reshard.log")
        try:
            finished = load.wait_until(lambda: reshard.poll() is not None, RESHARD_TIMEOUT)
        finally:
            if reshard.poll() is None:
                reshard.kill()
            reshard.wait()
        ended = time.monotonic()
        during = sum(1 for a in tally.snapshot() if started <= a.started <= ended)
        load.wait_until(lambda: tally.successes_since(ended) >= SUCCESSES_AFTER_RESHARD, 10)
        load.stop()

    reshard_log = (tmp_path / "reshard.log").read_text(errors="replace")
    assert finished, f"reshard did not finish within {RESHARD_TIMEOUT} s:\n{reshard_log[-2000:]}"
    assert reshard.returncode == 0, reshard_log[-2000:]

    failures = [line for book in books.values() for line in book.failures]
    live = {customer_id: value for book in books.values() for customer_id, value in book.live.items()}
    uncertain = {customer_id for book in books.values() for customer_id in book.uncertain}
    deleted = [customer_id for book in books.values() for customer_id in book.deleted]
    with Http(service.url) as http:
        wrong = []
        for customer_id, value in live.items():
            response = http.get(f"/customers/{customer_id}")
            if response.status_code != 200 or response.json()["address"] != value:
                wrong.append(f"{customer_id}: {response.status_code} {response.text[:200]}")
        resurrected = [i for i in deleted if http.get(f"/customers/{i}").status_code != 404]
        listed = harness.listed_ids(http)

    harness.report(
        f"reshard {slots} slots, WAIT {wait_replicas}",
        **tally.summary(),
        lost=len(wrong) + len(resurrected),
        failed=len(failures),
        **{"reshard s": round(ended - started, 2), "requests during reshard": during},
        customers=len(live),
        deleted=len(deleted),
    )
    for line in failures[:10]:
        print("failed:", line)

    assert not failures, f"{len(failures)} requests failed during resharding: {failures[:10]}"
    assert tally.successes_since(ended) >= SUCCESSES_AFTER_RESHARD, tally.summary()
    assert during > 0
    assert not wrong, f"customers not as last written: {wrong[:10]}"
    assert not resurrected, f"deleted customers back: {resurrected[:10]}"
    assert len(listed) == len(set(listed)), "a customer listed twice"
    assert set(listed) - uncertain == set(live), "the listing differs from the customers that exist"

    # The slots really moved, the index with them, and no slot is left half-moved.
    owner, infos = harness.owner_of_slot(cluster, index_slot)
    assert owner.id == target.id
    counts = {info.id: slot_count(info.slots) for info in infos if info.is_primary}
    assert counts[target.id] == slot_count(target.slots) + slots
    assert counts[source.id] == slot_count(source.slots) - slots
    assert not harness.open_slots(cluster)
