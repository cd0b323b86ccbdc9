"""Repository logic that a fake store can prove: index upkeep and legacy data.

Atomicity and cluster routing are proven on real servers in tests/integration.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MovedError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.customers.model import CustomerNotFound, StoredCustomer
from app.store import durable
from app.store.cursors import InvalidCursor
from app.store.keys import INDEX_KEY
from app.store.listing import ORPHAN_GRACE_SECONDS
from app.store.maintenance import CustomerMaintenance
from app.store.nodes import Nodes
from app.store.repository import CustomerRepository


class Clock:
    """A clock that ticks 1 ms per reading and that a test can move forward."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def repository(redis_client, clock):
    return CustomerRepository(redis_client, clock=clock)


@pytest.fixture
def maintenance(redis_client, clock):
    return CustomerMaintenance(redis_client, clock=clock)


def sample_hash(redis_client, name: str) -> str:
    """Write a customer the way the original sample did: five string fields, no index."""
    customer_id = str(uuid.uuid4())
    redis_client.hset(
        f"customer:{customer_id}",
        mapping={
            "name": name,
            "address": "1 Main St",
            "phone": "555-0100",
            "email": f"{name}@example.com",
            "balance": "100",
        },
    )
    return customer_id


def test_sample_hashes_are_served_and_updated_without_migration(repository, redis_client):
    customer_id = sample_hash(redis_client, "old")
    assert repository.get(customer_id).fields["name"] == "old"
    updated = repository.update(customer_id, {"balance": "0"}, [])
    assert updated.fields["balance"] == "0"
    assert updated.fields["address"] == "1 Main St"


def test_reindex_makes_sample_hashes_listable_and_is_idempotent(repository, redis_client):
    ids = {sample_hash(redis_client, f"old{i}") for i in range(7)}
    redis_client.hset("customer:not-a-uuid", mapping={"name": "stray"})
    assert repository.list(100).customers == []
    maintenance = CustomerMaintenance(redis_client)
    assert list(maintenance.reindex(batch_size=3))[-1] == 7
    assert {c.id for c in repository.list(100).customers} == ids
    list(maintenance.reindex())
    assert redis_client.zcard(INDEX_KEY) == 7


def test_old_orphan_entries_are_skipped_and_removed(repository, redis_client, clock):
    orphan = repository.create({"name": "gone"}).customer
    clock.advance(ORPHAN_GRACE_SECONDS + 5)
    live = repository.create({"name": "here"}).customer
    redis_client.delete(f"customer:{orphan.id}")  # as if the process died mid-delete
    assert [c.id for c in repository.list(10).customers] == [live.id]
    assert redis_client.zcard(INDEX_KEY) == 1


def test_young_orphan_entries_are_skipped_but_kept(repository, redis_client):
    # A create in flight has its index entry before its hash: never remove it.
    young = repository.create({"name": "in flight"}).customer
    redis_client.delete(f"customer:{young.id}")
    assert repository.list(10).customers == []
    assert redis_client.zcard(INDEX_KEY) == 1


def test_a_page_is_filled_past_orphans(repository, redis_client, clock):
    for i in range(3):
        gone = repository.create({"name": f"gone{i}"}).customer
        redis_client.delete(f"customer:{gone.id}")
    clock.advance(ORPHAN_GRACE_SECONDS + 5)
    live = [repository.create({"name": f"c{i}"}).customer for i in range(3)]
    page = repository.list(2)
    assert [c.id for c in page.customers] == [live[0].id, live[1].id]
    assert [c.id for c in repository.list(2, page.next_cursor).customers] == [live[2].id]


def test_update_never_creates(repository, redis_client):
    with pytest.raises(CustomerNotFound):
        repository.update(str(uuid.uuid4()), {"name": "ghost"}, [])
    assert redis_client.keys() == []


@pytest.mark.parametrize("cursor", ["x", "!!!", "Zm9v", "MDAwMDAwMDAwMDAwMDAwMDoqKio"])
def test_foreign_cursors_are_refused(repository, cursor):
    with pytest.raises(InvalidCursor):
        repository.list(10, cursor)


def test_timestamps_are_stored_as_microseconds_and_shown_as_rfc3339(client, redis_client):
    body = client.post("/customers", json={"name": "Ada"}).get_json()
    stored = redis_client.hgetall(f"customer:{body['id']}")
    micros = int(stored["created_at"])
    assert stored["created_at"] == stored["updated_at"]
    shown = datetime.fromisoformat(body["created_at"])
    assert body["created_at"].endswith("Z")
    assert shown == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    assert client.get(f"/customers/{body['id']}").get_json()["created_at"] == body["created_at"]


def test_text_timestamps_of_earlier_versions_are_read_listed_and_kept(client, redis_client):
    # What the service wrote before it stored microseconds: RFC 3339 text and an index entry.
    customer_id = str(uuid.uuid4())
    written = "2026-01-02T03:04:05.678901Z"
    redis_client.hset(
        f"customer:{customer_id}", mapping={"name": "Old", "created_at": written, "updated_at": written}
    )
    redis_client.zadd(INDEX_KEY, {f"{1767323045678901:016d}:{customer_id}": 0})

    assert client.get(f"/customers/{customer_id}").get_json()["created_at"] == written
    assert [c["id"] for c in client.get("/customers").get_json()] == [customer_id]
    patched = client.patch(
        f"/customers/{customer_id}",
        json={"phone": "555"},
        headers={"Prefer": "return=representation"},
        content_type="application/merge-patch+json",
    ).get_json()
    assert patched["created_at"] == written
    assert patched["updated_at"] > written
    client.delete(f"/customers/{customer_id}")
    assert redis_client.zcard(INDEX_KEY) == 0  # the index entry was found from the text form


def test_numbers_other_programs_wrote_as_timestamps_are_shown_not_a_500(client, redis_client):
    customer_id = str(uuid.uuid4())
    huge = "9" * 30  # not microseconds: would overflow any date
    redis_client.hset(f"customer:{customer_id}", mapping={"name": "X", "created_at": huge, "updated_at": "1"})
    redis_client.zadd(INDEX_KEY, {f"{0:016d}:{customer_id}": 0})
    shown = client.get(f"/customers/{customer_id}").get_json()
    assert shown["created_at"] == huge
    assert shown["updated_at"] == "1970-01-01T00:00:00.000001Z"
    assert client.get("/customers").status_code == 200
    assert client.delete(f"/customers/{customer_id}").status_code == 204


def test_create_many_creates_only_absent_ids_and_keeps_the_index_exact(repository, maintenance, redis_client):
    existing = repository.create({"name": "There already"}).customer
    new = str(uuid.uuid4())
    batch = [(existing.id, {"name": "Other"}), (new, {"name": "First"}), (new, {"name": "Second"})]

    assert maintenance.create_many(batch) == [False, True, False]
    assert repository.get(existing.id) == existing, "fields and created_at untouched"
    assert repository.get(new).fields["name"] == "First"
    assert [c.id for c in repository.list(10).customers] == [existing.id, new]
    assert redis_client.zcard(INDEX_KEY) == 2, "no entry for what was not created"
    assert maintenance.create_many([(new, {"name": "Again"})]) == [False]


def test_create_many_runs_again_what_a_node_without_the_script_refused(
    repository, maintenance, redis_client, monkeypatch
):
    loads = []
    load = redis_client.script_load

    def load_then_forget(script):
        loads.append(script)
        sha = load(script)
        if len(loads) == 1:  # as a replica promoted right after the load would
            redis_client.script_flush()
        return sha

    monkeypatch.setattr(redis_client, "script_load", load_then_forget)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    assert maintenance.create_many([(i, {"name": i}) for i in ids]) == [True, True, True]
    assert len(loads) == 2
    assert [c.id for c in repository.list(10).customers] == ids


def test_create_many_writes_no_hash_before_its_index_entry(maintenance, redis_client, monkeypatch):
    def lost_connection(*args, **kwargs):
        raise ConnectionError("the index write failed")

    pipeline = redis_client.pipeline

    def failing_pipeline(*args, **kwargs):
        pipe = pipeline(*args, **kwargs)
        monkeypatch.setattr(pipe, "zadd", lost_connection)
        return pipe

    monkeypatch.setattr(redis_client, "zadd", lost_connection)
    monkeypatch.setattr(redis_client, "pipeline", failing_pipeline)
    with pytest.raises(ConnectionError):
        maintenance.create_many([(str(uuid.uuid4()), {"name": "Never half-written"})])
    assert list(redis_client.scan_iter("customer:*")) == [], "a customer the listing could not find"


def test_restore_lists_a_customer_whose_entry_a_concurrent_listing_removed(
    repository, maintenance, redis_client, monkeypatch
):
    restored = StoredCustomer(str(uuid.uuid4()), {"name": "Restored", "created_at": "1767225600000001"})
    pipeline = redis_client.pipeline
    calls = []

    def listing_in_between(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the hashes come next: the entry is there, the hash not yet
            repository.list(10)  # an entry over 60 s old without a hash is an orphan to it
        return pipeline(*args, **kwargs)

    monkeypatch.setattr(redis_client, "pipeline", listing_in_between)
    maintenance.restore([restored])
    monkeypatch.undo()
    assert [c.id for c in repository.list(10).customers] == [restored.id]


def test_a_create_whose_writes_could_not_go_together_is_made_one_at_a_time(repository, monkeypatch):
    def refused(batches):
        raise RedisConnectionError("the owners could not be reached at once")

    monkeypatch.setattr(durable, "send_together", refused)
    created = repository.create({"name": "Ada"})
    assert repository.get(created.customer.id).fields == created.customer.fields
    assert [c.id for c in repository.list(10).customers] == [created.customer.id]


def test_a_create_whose_entry_cannot_be_written_takes_back_its_hash(repository, redis_client, monkeypatch):
    # Sent together, the hash lands and the entry is refused; written again
    # one at a time, the entry fails again: the request fails, and leaves no
    # customer the listing cannot find.
    real = durable.send_together

    def entry_refused(batches):
        replies = real(batches)
        replies[0][0] = MovedError("3999 127.0.0.1:1")
        return replies

    def entry_unreachable(self, key, *command, direct=True):
        if command[0] == "ZADD":
            raise RedisConnectionError("no route to the index's primary")
        return original_execute(self, key, *command, direct=direct)

    original_execute = Nodes.execute
    first = repository.create({"name": "Grace"}).customer  # and the create script is loaded
    monkeypatch.setattr(durable, "send_together", entry_refused)
    monkeypatch.setattr(Nodes, "execute", entry_unreachable)
    with pytest.raises(RedisConnectionError):
        repository.create({"name": "Ada"})
    assert list(redis_client.scan_iter("customer:*")) == [f"customer:{first.id}"]


def test_a_create_whose_entry_timed_out_fails_at_once_without_its_hash(repository, redis_client, monkeypatch):
    real = durable.send_together
    sent = []

    def entry_timed_out(batches):
        sent.append(batches)
        replies = real(batches)
        replies[0][0] = RedisTimeoutError("Timeout reading from socket")
        return replies

    first = repository.create({"name": "Grace"}).customer  # and the create script is loaded
    monkeypatch.setattr(durable, "send_together", entry_timed_out)
    with pytest.raises(RedisTimeoutError):
        repository.create({"name": "Ada"})
    assert len(sent) == 1  # not asked again
    assert list(redis_client.scan_iter("customer:*")) == [f"customer:{first.id}"]
