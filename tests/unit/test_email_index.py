"""The email index and the listing filters, over fakeredis: the logic, including races by interleaving.

The same rules are checked over HTTP on a real cluster in tests/integration/test_finding.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.customers.model import EmailTaken, Filters
from app.store.cursors import InvalidCursor
from app.store.keys import email_key
from app.store.listing import ORPHAN_GRACE_SECONDS
from app.store.maintenance import CustomerMaintenance
from app.store.repository import CustomerRepository


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def repository(redis_client, clock):
    return CustomerRepository(redis_client, clock=clock)


def found(repository, email, **filters):
    return [c.id for c in repository.list(100, None, Filters(email=email, **filters)).customers]


def test_lookup_ignores_case_and_surrounding_space_and_follows_changes(repository):
    ada = repository.create({"name": "Ada", "email": "Ada@example.com"}).customer
    assert found(repository, " ada@EXAMPLE.com ") == [ada.id]
    repository.update(ada.id, {"email": "countess@example.com"}, [])
    assert found(repository, "ada@example.com") == []
    assert found(repository, "countess@example.com") == [ada.id]
    repository.update(ada.id, {}, ["email"])
    assert found(repository, "countess@example.com") == []
    repository.update(ada.id, {"email": "ada@example.com"}, [])
    assert found(repository, "ada@example.com") == [ada.id]
    repository.delete(ada.id)
    assert found(repository, "ada@example.com") == []


def test_an_update_that_keeps_the_email_writes_no_entry(repository, redis_client):
    ada = repository.create({"name": "Ada", "email": "ada@example.com"}).customer
    before = redis_client.zrange(email_key("ada@example.com"), 0, -1)
    repository.update(ada.id, {"email": "ada@example.com", "name": "Ada L."}, [])
    assert redis_client.zrange(email_key("ada@example.com"), 0, -1) == before
    assert found(repository, "ada@example.com") == [ada.id]


def test_crossed_changes_x_to_y_and_y_to_x_leave_the_customer_findable(repository, redis_client, monkeypatch):
    """Writer A changes y->x; writer B, between A's hash write and A's removal, changes x->y."""
    ada = repository.create({"name": "Ada", "email": "x@example.com"}).customer
    repository.update(ada.id, {"email": "y@example.com"}, [])  # now y; B will move it back to x
    real = repository._remove_entries
    interleaved = []

    def b_runs_before_a_removes(entries):
        if not interleaved:
            interleaved.append(1)
            # A (y->x) has written its hash and not yet removed its old y entry:
            # B (x->y) runs whole now, then A removes that old entry.
            repository.update(ada.id, {"email": "y@example.com"}, [])
        real(entries)

    monkeypatch.setattr(repository, "_remove_entries", b_runs_before_a_removes)
    repository.update(ada.id, {"email": "x@example.com"}, [])
    monkeypatch.undo()
    final = repository.get(ada.id).fields["email"]
    other = "x@example.com" if final == "y@example.com" else "y@example.com"
    assert found(repository, final) == [ada.id]
    assert found(repository, other) == []


def test_a_change_that_loses_a_race_retries_and_ends_under_its_own_email(repository, monkeypatch):
    ada = repository.create({"name": "Ada", "email": "x@example.com"}).customer
    real = repository._add_entries
    raced = []

    def another_write_first(entries, email=None):
        real(entries, email)
        if not raced:
            raced.append(1)
            repository.update(ada.id, {"email": "z@example.com"}, [])

    monkeypatch.setattr(repository, "_add_entries", another_write_first)
    repository.update(ada.id, {"email": "y@example.com"}, [])
    monkeypatch.undo()
    assert repository.get(ada.id).fields["email"] == "y@example.com"
    assert found(repository, "y@example.com") == [ada.id]
    assert found(repository, "z@example.com") == []
    assert found(repository, "x@example.com") == []


def test_a_crash_between_the_entry_and_the_hash_leaves_a_stale_entry_that_reads_skip_then_clean(
    repository, redis_client, clock, monkeypatch
):
    ada = repository.create({"name": "Ada", "email": "x@example.com"}).customer
    real = repository._writer.run_script
    calls = []

    def crash_on_the_hash_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the probe ran, the new entry is written: the worker dies now
            raise ConnectionError("the worker died here")
        return real(*args, **kwargs)

    monkeypatch.setattr(repository._writer, "run_script", crash_on_the_hash_write)
    with pytest.raises(ConnectionError):
        repository.update(ada.id, {"email": "y@example.com"}, [])
    monkeypatch.undo()
    assert found(repository, "x@example.com") == [ada.id], "the customer is found under its email"
    assert found(repository, "y@example.com") == []
    assert redis_client.zcard(email_key("y@example.com")) == 1, "too young to clean: it may be in flight"
    clock.now += timedelta(seconds=ORPHAN_GRACE_SECONDS + 1)
    assert found(repository, "y@example.com") == []
    assert redis_client.zcard(email_key("y@example.com")) == 0, "old enough: cleaned by the read"


def test_order_and_creation_time_bounds_on_the_list_and_the_lookup(repository, clock):
    ids = [repository.create({"name": f"c{i}", "email": "same@example.com"}).customer.id for i in range(5)]
    created = [repository.get(i).fields["created_at"] for i in ids]
    micros = [int(c) for c in created]
    assert [c.id for c in repository.list(10, None, Filters(descending=True)).customers] == ids[::-1]
    assert found(repository, "same@example.com", descending=True) == ids[::-1]
    assert found(repository, "same@example.com", created_from=micros[1], created_to=micros[3]) == ids[1:4]
    within = Filters(created_from=micros[1] + 1, created_to=micros[3], descending=True)
    assert [c.id for c in repository.list(10, None, within).customers] == [ids[3], ids[2]]
    assert found(repository, "same@example.com", created_from=micros[3], created_to=micros[1]) == []


def test_walking_a_filtered_query_page_by_page_gives_each_match_once_in_order(repository):
    ids = [
        repository.create({"name": f"c{i}", "email": f"{i % 2}@example.com"}).customer.id for i in range(9)
    ]
    filters = Filters(email="1@example.com", descending=True)
    seen, cursor = [], None
    for _ in range(10):
        page = repository.list(2, cursor, filters)
        seen += [c.id for c in page.customers]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [i for n, i in enumerate(ids) if n % 2][::-1]


def test_a_cursor_is_refused_with_other_filters_or_order(repository):
    for i in range(3):
        repository.create({"name": f"c{i}", "email": "a@example.com"})
    cursor = repository.list(1, None, Filters(email="a@example.com")).next_cursor
    assert cursor
    assert repository.list(1, cursor, Filters(email="A@example.com ")).customers  # the same query
    for other in (Filters(), Filters(email="a@example.com", descending=True), Filters(email="b@example.com")):
        with pytest.raises(InvalidCursor):
            repository.list(1, cursor, other)
    plain = repository.list(1).next_cursor
    with pytest.raises(InvalidCursor):
        repository.list(1, plain, Filters(descending=True))


def test_reindex_makes_sample_hashes_findable_by_email(repository, redis_client):
    customer_id = str(uuid.uuid4())
    redis_client.hset(f"customer:{customer_id}", mapping={"name": "old", "email": "Old@Example.com"})
    assert found(repository, "old@example.com") == []
    assert list(CustomerMaintenance(redis_client).reindex())[-1] == 1
    assert found(repository, "old@example.com") == [customer_id]
    list(CustomerMaintenance(redis_client).reindex())  # again: still one entry that counts
    assert found(repository, "old@example.com") == [customer_id]


def test_imported_customers_are_findable_by_email(repository, redis_client):
    ids = [str(uuid.uuid4()) for _ in range(3)]
    maintenance = CustomerMaintenance(redis_client)
    maintenance.create_many([(i, {"name": i, "email": "bulk@example.com"}) for i in ids])
    assert found(repository, "bulk@example.com") == ids


@pytest.fixture
def unique(redis_client, clock):
    return CustomerRepository(redis_client, clock=clock, unique_emails=True)


def test_unique_emails_refuse_a_second_holder_in_any_case_and_free_it_on_delete(unique):
    ada = unique.create({"name": "Ada", "email": "ada@example.com"}).customer
    with pytest.raises(EmailTaken):
        unique.create({"name": "Copy", "email": "ADA@example.com"})
    grace = unique.create({"name": "Grace", "email": "grace@example.com"}).customer
    with pytest.raises(EmailTaken):
        unique.update(grace.id, {"email": "Ada@example.com"}, [])
    assert found(unique, "grace@example.com") == [grace.id], "the refused change left grace as she was"
    unique.update(ada.id, {"email": "ada@example.com", "name": "Ada L."}, [])  # her own: no conflict
    unique.update(ada.id, {"email": "Ada@example.com"}, [])  # her own, in another case
    unique.delete(ada.id)
    assert unique.create({"name": "New Ada", "email": "ada@example.com"}).customer


def test_unique_emails_free_the_old_email_once_its_holder_moved_on(unique):
    ada = unique.create({"name": "Ada", "email": "ada@example.com"}).customer
    unique.update(ada.id, {"email": "countess@example.com"}, [])
    other = unique.create({"name": "Other", "email": "ada@example.com"}).customer
    assert found(unique, "ada@example.com") == [other.id]


def test_a_claim_left_by_a_crashed_create_is_taken_over_after_the_grace_period(unique, clock, monkeypatch):
    def crash(*args, **kwargs):
        raise ConnectionError("the worker died after claiming")

    monkeypatch.setattr(unique, "_create_listed", crash)
    with pytest.raises(ConnectionError):
        unique.create({"name": "Lost", "email": "ada@example.com"})
    monkeypatch.undo()
    with pytest.raises(EmailTaken):  # it may still be in flight
        unique.create({"name": "Ada", "email": "ada@example.com"})
    clock.now += timedelta(seconds=ORPHAN_GRACE_SECONDS + 1)
    assert unique.create({"name": "Ada", "email": "ada@example.com"}).customer


def test_customers_from_before_uniqueness_hold_their_email_without_a_claim(repository, unique):
    ada = repository.create({"name": "Ada", "email": "ada@example.com"}).customer
    with pytest.raises(EmailTaken):
        unique.create({"name": "Copy", "email": "ada@example.com"})
    assert found(unique, "ada@example.com") == [ada.id]
    unique.update(ada.id, {"name": "Ada L."}, [])
    assert found(unique, "ada@example.com") == [ada.id]


def test_duplicates_names_each_shared_email_and_its_live_customers(repository, redis_client):
    ids = [repository.create({"name": f"c{i}", "email": "Shared@example.com"}).customer.id for i in range(3)]
    repository.create({"name": "alone", "email": "alone@example.com"})
    repository.update(ids[2], {"email": "moved@example.com"}, [])
    assert list(CustomerMaintenance(redis_client).duplicate_emails()) == [
        ("shared@example.com", sorted(ids[:2]))
    ]


def test_a_delete_frees_the_claim_whatever_token_an_idempotent_duplicate_left_on_it(unique, redis_client):
    ada = unique.create({"name": "Ada", "email": "ada@example.com"}).customer
    # A concurrent duplicate with the same Idempotency-Key claims with its own token, then loses.
    redis_client.set("customers:email-claim:ada@example.com", f"{ada.id}:17646000000abcdef")
    unique.delete(ada.id)
    assert unique.create({"name": "New Ada", "email": "ada@example.com"}).customer
