"""Repository logic that a fake store can prove: index upkeep and legacy data.

Atomicity and cluster routing are proven on real servers in tests/integration.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.keys import InvalidCursor
from app.repository import (
    INDEX_KEY,
    ORPHAN_GRACE_SECONDS,
    CustomerNotFound,
    CustomerRepository,
)


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
    assert list(repository.reindex(batch_size=3))[-1] == 7
    assert {c.id for c in repository.list(100).customers} == ids
    list(repository.reindex())
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
