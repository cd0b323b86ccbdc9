"""Customers to measure with: made up, reproducible, written as the service writes them.

Loading goes through ``CustomerMaintenance.restore``, so every hash and index
entry has exactly the service's layout (7 string fields, index member
``<created_at µs>:<id>``), in pipelines of one batch each.
"""

from __future__ import annotations

import base64
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.cluster import RedisCluster

from app.customers.model import StoredCustomer
from app.store.keys import INDEX_KEY
from app.store.maintenance import CustomerMaintenance

BATCH = 5_000
# Every made-up customer was created at a distinct microsecond from this moment on.
_EPOCH_MICROS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
_FIRST = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Margaret", "Dennis", "Frances", "Ken")
_LAST = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Ritchie", "Allen")
_STREETS = ("St James Square", "Main Street", "Harbour Road", "Station Avenue", "Mill Lane", "Park Row")
_CITIES = ("London", "Springfield", "Manchester", "Boston", "Leeds", "Toronto")


@dataclass(frozen=True)
class SeedFields:
    """The five string fields of the original sample's hashes."""

    name: str
    address: str
    phone: str
    email: str
    balance: str

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "address": self.address,
            "phone": self.phone,
            "email": self.email,
            "balance": self.balance,
        }


def seed_fields(rng: random.Random, number: int) -> SeedFields:
    """Plausible values with realistic lengths (name ~14, email ~30, address ~30 characters)."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return SeedFields(
        name=f"{first} {last}",
        address=f"{rng.randint(1, 999)} {rng.choice(_STREETS)}, {rng.choice(_CITIES)}",
        phone=f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        email=f"{first.lower()}.{last.lower()}{number}@example.com",
        balance=f"{rng.randint(0, 99_999)}.{rng.randint(0, 99):02d}",
    )


def created_micros(number: int) -> int:
    """When made-up customer ``number`` was created, in µs since 1970 (its index member's prefix)."""
    return _EPOCH_MICROS + number


def make_customers(start: int, count: int, seed: int = 1) -> Iterator[StoredCustomer]:
    """Customers number ``start`` .. ``start + count - 1``, the same ones on every run."""
    rng = random.Random(seed * 1_000_003 + start)
    for number in range(start, start + count):
        stamp = str(created_micros(number))  # the stored form (app/store/keys.py: timestamp)
        fields = seed_fields(rng, number).as_dict()
        fields["created_at"] = fields["updated_at"] = stamp
        yield StoredCustomer(str(uuid.UUID(int=rng.getrandbits(128), version=4)), fields)


def load(client: RedisCluster, start: int, count: int, label: str) -> float:
    """Restore ``count`` customers in pipelined batches; return the rate in customers/s."""
    repository = CustomerMaintenance(client)
    began = time.perf_counter()
    batch: list[StoredCustomer] = []
    done = 0
    for customer in make_customers(start, count):
        batch.append(customer)
        if len(batch) == BATCH:
            repository.restore(batch)
            done += len(batch)
            batch = []
            _progress(label, done, count, began)
    if batch:
        repository.restore(batch)
        done += len(batch)
    elapsed = time.perf_counter() - began
    if sys.stdout.isatty():
        print(" " * 79, end="\r")
    return done / elapsed if elapsed else float("inf")


def write_hashes(client: RedisCluster, start: int, count: int) -> None:
    """The same customers as bare hashes: no index entry, one ``HSET`` each."""
    pipe = client.pipeline(transaction=False)
    for number, customer in enumerate(make_customers(start, count), 1):
        pipe.hset(f"customer:{customer.id}", mapping=customer.fields)
        if number % BATCH == 0:
            pipe.execute()
    pipe.execute()


def remove(client: RedisCluster, start: int, count: int, indexed: bool) -> None:
    """Delete these customers' hashes (and index entries), whether they exist or not."""
    pipe = client.pipeline(transaction=False)
    for number, customer in enumerate(make_customers(start, count), 1):
        pipe.delete(f"customer:{customer.id}")
        if indexed:  # the member's layout: app/store/keys.py
            pipe.zrem(INDEX_KEY, f"{int(customer.fields['created_at']):016d}:{customer.id}")
        if number % BATCH == 0:
            pipe.execute()
    pipe.execute()


def _progress(label: str, done: int, total: int, began: float) -> None:
    """A live count on a terminal; a line every 20 % when the output is a file."""
    rate = done / (time.perf_counter() - began)
    text = f"  {label}: {done:,}/{total:,} customers, {rate:,.0f}/s"
    if sys.stdout.isatty():
        print(text, end="\r", flush=True)
    elif done % max(BATCH, total // 5 // BATCH * BATCH) == 0:
        print(text, flush=True)


def customer_count(client: RedisCluster) -> int:
    return client.zcard(INDEX_KEY)


def random_ids(client: RedisCluster, count: int) -> list[str]:
    """Ids of existing customers, drawn at random from the whole index (ZRANDMEMBER)."""
    members = client.zrandmember(INDEX_KEY, count)
    return [member.split(":", 1)[1] for member in members]


def middle_cursor(client: RedisCluster) -> str:
    """A listing cursor at the middle of the index: the form the service hands out.

    The README documents it: the last member of a page, base64url-encoded
    without padding. Taking the member by rank saves walking half a million
    customers page by page to get there.
    """
    middle = customer_count(client) // 2
    member = client.zrange(INDEX_KEY, middle, middle)[0]
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")
