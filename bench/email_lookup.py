"""What the email index costs: lookups at 10,000 and 1,000,000 customers, writes, memory (issue 12).

    .venv/bin/python -m bench.email_lookup                  # 10,000 then 1,000,000 customers
    .venv/bin/python -m bench.email_lookup --large 200000   # a smaller second size

Runs on a 6-node cluster of its own (a temporary directory, stopped at the
end) through the repository itself, as a request does, without HTTP: the
figure is what Redis work a request adds, not what Flask costs. Customers
are loaded with ``CustomerMaintenance.restore`` (the service's layout: the
hash with its ``email_token``, the listing entry, the email entry). Each
figure is the median of many calls, measured in the same run, so the two
sizes compare; absolute figures wander on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app.customers.model import Filters
from app.store.keys import email_key
from app.store.repository import CustomerRepository
from bench import dataset
from tests.support.redis_servers import LocalCluster

CALLS = 2_000
SMALL = 10_000


def median_us(call: Callable[[int], object], calls: int = CALLS) -> float:
    """Median wall time of ``call(n)`` in microseconds."""
    times = []
    for n in range(calls):
        began = time.perf_counter()
        call(n)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e6


def lookups(client, repository: CustomerRepository) -> float:
    """Median time of GET /customers?email=<address> of a random existing customer."""
    pipe = client.pipeline(transaction=False)
    for customer_id in dataset.random_ids(client, CALLS):
        pipe.hget(f"customer:{customer_id}", "email")
    emails = pipe.execute()

    def look(n: int) -> None:
        page = repository.list(10, None, Filters(email=emails[n].upper()))
        assert len(page.customers) == 1, emails[n]

    return median_us(look)


def writes(repository: CustomerRepository) -> dict[str, float]:
    """Median times of the writes the email index changes, against the same writes without an email."""
    ids: list[str] = []
    figures = {
        "POST, no email": median_us(lambda n: ids.append(repository.create({"name": f"n{n}"}).customer.id)),
        "POST with an email": median_us(
            lambda n: ids.append(repository.create({"name": "e", "email": f"w{n}@example.com"}).customer.id)
        ),
    }
    with_email = ids[CALLS:]
    figures["PUT balance (email kept)"] = median_us(
        lambda n: repository.update(with_email[n], {"balance": "1"}, [])
    )
    figures["PUT the same email"] = median_us(
        lambda n: repository.update(with_email[n], {"email": f"w{n}@example.com"}, [])
    )
    figures["PUT a new email"] = median_us(
        lambda n: repository.update(with_email[n], {"email": f"v{n}@example.com"}, [])
    )
    figures["DELETE with an email"] = median_us(lambda n: repository.delete(with_email[n]))
    return figures


def memory(client, repository: CustomerRepository) -> dict[str, int]:
    """MEMORY USAGE of one customer's keys, with and without an email."""
    plain = repository.create({"name": "Ada Lovelace", "balance": "10.5"}).customer
    full = repository.create(
        {"name": "Ada Lovelace", "balance": "10.5", "email": "ada.lovelace123@example.com"}
    )
    return {
        "hash without email": client.memory_usage(f"customer:{plain.id}", samples=0),
        "hash with email (+ email_token)": client.memory_usage(f"customer:{full.customer.id}", samples=0),
        "email index key of one customer": client.memory_usage(
            email_key("ada.lovelace123@example.com"), samples=0
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--large", type=int, default=1_000_000, help="the second size (default 1,000,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, LocalCluster(Path(workdir) / "cluster") as cluster:
        client = cluster.client()
        repository = CustomerRepository(client)
        print(f"loading {SMALL:,} customers: {dataset.load(client, 0, SMALL, 'small'):,.0f}/s")
        small = lookups(client, repository)
        print(f"lookup by email at {SMALL:,}: {small:,.0f} µs (median of {CALLS:,})")
        rate = dataset.load(client, SMALL, args.large - SMALL, "large")
        print(f"loading to {args.large:,} customers: {rate:,.0f}/s")
        large = lookups(client, repository)
        print(
            f"lookup by email at {args.large:,}: {large:,.0f} µs (median of {CALLS:,}), {large / small:.2f} x"
        )
        for name, value in writes(repository).items():
            print(f"{name}: {value:,.0f} µs")
        for name, value in memory(client, repository).items():
            print(f"MEMORY USAGE, {name}: {value} B")


if __name__ == "__main__":
    main()
