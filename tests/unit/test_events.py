"""Event feed logic a fake store can prove: the slot table, cursors, relaying twice.

Atomicity with the change, crashes, resharding and failover are proven on
real servers (tests/integration/test_events.py, tests/faults/test_events.py).
"""

from __future__ import annotations

import base64
import time

import pytest
from redis.crc import key_slot
from redis.exceptions import RedisClusterException

from app.customers.model import Filters
from app.store import events, relay
from app.store.cursors import InvalidCursor, decode_event_cursor, encode_cursor, encode_event_cursor
from app.store.keys import FEED_KEY, MARKS_KEY, customer_key, outbox_key, outbox_keys
from app.store.repository import CustomerRepository
from app.store.slot_tags import SLOTS, tags


def test_every_slot_has_a_tag_that_hashes_to_it():
    assert len(tags()) == SLOTS
    assert all(key_slot(tag.encode()) == slot for slot, tag in enumerate(tags()))
    assert len(set(outbox_keys())) == SLOTS


def test_a_customer_and_its_outbox_share_a_slot_and_the_feed_shares_one_with_its_marks():
    for n in range(200):
        customer_id = f"00000000-0000-4000-8000-{n:012d}"
        assert key_slot(outbox_key(customer_id).encode()) == key_slot(customer_key(customer_id).encode())
    assert key_slot(FEED_KEY.encode()) == key_slot(MARKS_KEY.encode())


def test_event_cursors_round_trip_and_foreign_ones_are_refused():
    assert decode_event_cursor(encode_event_cursor("1764318000123-7")) == "1764318000123-7"
    listing = encode_cursor(f"{'0' * 16}:00000000-0000-4000-8000-000000000000", Filters())
    foreign = (encode_cursor("event:1-x", Filters()), encode_cursor("1-0", Filters()))
    for cursor in (listing, "%%%", *foreign, "é"):
        with pytest.raises(InvalidCursor):
            decode_event_cursor(cursor)
    assert base64.urlsafe_b64decode(encode_event_cursor("1-0") + "==").startswith(b"event:")


@pytest.fixture
def repository(redis_client):
    return CustomerRepository(redis_client)


def test_relaying_the_same_outbox_twice_appends_each_event_once(repository, redis_client, monkeypatch):
    customer_id = repository.create({"name": "Ada"}).customer.id
    repository.update(customer_id, {"name": "Bea"}, [])
    outbox = outbox_key(customer_id)
    # A process killed after appending but before trimming the outbox: the
    # next relay (or a concurrent one that read the same entries) offers them again.
    real = events.execute_many

    def without_trims(nodes, client, commands):
        return [] if commands[0][1][0] == "XTRIM" else real(nodes, client, commands)

    with monkeypatch.context() as patched:
        patched.setattr(events, "execute_many", without_trims)
        repository.feed.relay([outbox])
    assert redis_client.xlen(outbox) == 2
    repository.feed.relay([outbox])
    page = repository.events(10)
    assert [(e.type, e.fields["name"]) for e in page.events] == [("created", "Ada"), ("updated", "Bea")]
    assert redis_client.xlen(outbox) == 0
    assert repository.events(10, page.next_cursor).events == []


def test_events_off_adds_nothing_to_any_outbox(redis_client):
    repository = CustomerRepository(redis_client, events=False)
    customer_id = repository.create({"name": "Ada"}).customer.id
    repository.delete(customer_id)
    assert redis_client.xlen(outbox_key(customer_id)) == 0


class _FailingFeed:
    """A feed whose first relay steps fail: as Redis does when unreachable, then a defect."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.steps: list[list[str]] = []

    def relay(self, outboxes: list[str]) -> list[str]:
        self.steps.append(outboxes)
        if self.failures:
            raise self.failures.pop(0)
        return []


def test_the_relay_thread_outlives_failed_steps_and_keeps_their_outboxes(monkeypatch):
    monkeypatch.setattr(relay, "_RETRY_SECONDS", 0.01)
    unreachable = RedisClusterException("Redis Cluster cannot be connected")  # not a RedisError
    feed = _FailingFeed([unreachable, ValueError("a defect")])
    relayer = relay.Relayer(client=None, feed=feed, sweep_seconds=3600)  # type: ignore[arg-type]
    relayer.start()
    relayer.notify("customers:outbox:{a}")
    deadline = time.monotonic() + 5
    while len(feed.steps) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert feed.steps == [["customers:outbox:{a}"]] * 3  # tried again after each failure
