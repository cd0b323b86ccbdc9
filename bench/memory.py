"""What a customer costs in Redis memory, compared with the original sample's hash.

Two views, because each misses something:

* ``MEMORY USAGE <key>`` on a sample of keys: the hash object alone, exact for
  small (listpack) hashes, but without the keyspace's dictionary entry;
* the ``used_memory`` delta, summed over the primaries, while many keys are
  written: everything (dictionary entries, the index, allocator rounding),
  divided by the count.

A delta also catches a dictionary doubling its bucket array (8 bytes a bucket)
when its size crosses a power of two, which may fall in one measured pass and
not the other. So the comparison writes 100,000 customers once unmeasured
(which grows the keyspace and index tables), deletes them, then measures
100,000 customers and 100,000 bare seed-format hashes (the sample's five
string fields, no timestamps, no index) the same way, one after the other.
Seed hashes live under ``bench:sd:<id>``, a prefix as long as ``customer:``,
so key length does not tilt the comparison. Everything written here is
deleted again.
"""

from __future__ import annotations

import random
import statistics
import uuid

from redis.cluster import RedisCluster

from app.store.keys import INDEX_KEY
from app.store.maintenance import CustomerMaintenance
from bench.dataset import BATCH, created_micros, make_customers, seed_fields
from tests.support.redis_servers import LocalCluster

SEED_PREFIX = "bench:sd:"  # as long as "customer:"


def used_memory(cluster: LocalCluster) -> int:
    """``used_memory`` summed over the nodes that are primaries now."""
    total = 0
    for node in cluster.nodes:
        with node.connection() as conn:
            if conn.execute_command("ROLE")[0] == "master":
                total += int(conn.info("memory")["used_memory"])
    return total


def mean_key_usage(client: RedisCluster, keys: list[str]) -> float:
    """Mean ``MEMORY USAGE`` over ``keys`` (SAMPLES 0: every field counted)."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    sizes = [size for size in pipe.execute() if size is not None]
    return statistics.fmean(sizes)


def index_bytes_per_entry(client: RedisCluster) -> float:
    """The index's ``MEMORY USAGE`` divided by its number of members."""
    size = client.memory_usage(INDEX_KEY, samples=0)
    return size / client.zcard(INDEX_KEY)


def customers_delta(cluster: LocalCluster, client: RedisCluster, count: int, start: int) -> float:
    """used_memory per customer for ``count`` customers as the service stores them; deleted again.

    Each is a hash and an index entry, written by ``CustomerMaintenance.restore``.
    """
    customers = list(make_customers(start, count))
    repository = CustomerMaintenance(client)
    before = used_memory(cluster)
    try:
        for offset in range(0, count, BATCH):
            repository.restore(customers[offset : offset + BATCH])
        return (used_memory(cluster) - before) / count
    finally:
        _delete(client, [f"customer:{customer.id}" for customer in customers])
        first, end = created_micros(start), created_micros(start + count)
        client.zremrangebylex(INDEX_KEY, f"[{first:016d}", f"({end:016d}")


def seed_delta(cluster: LocalCluster, client: RedisCluster, count: int) -> float:
    """used_memory per hash for ``count`` bare seed-format hashes; deleted again."""
    rng = random.Random(7)
    keys = [f"{SEED_PREFIX}{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(count)]
    before = used_memory(cluster)
    try:
        for start in range(0, count, BATCH):
            pipe = client.pipeline(transaction=False)
            for number, key in enumerate(keys[start : start + BATCH], start):
                pipe.hset(key, mapping=seed_fields(rng, number).as_dict())
            pipe.execute()
        return (used_memory(cluster) - before) / count
    finally:
        _delete(client, keys)


def seed_usage(client: RedisCluster, count: int) -> float:
    """Mean MEMORY USAGE of ``count`` bare seed-format hashes, written for this and deleted again."""
    rng = random.Random(9)
    keys = [f"{SEED_PREFIX}{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(count)]
    pipe = client.pipeline(transaction=False)
    for number, key in enumerate(keys):
        pipe.hset(key, mapping=seed_fields(rng, number).as_dict())
    pipe.execute()
    try:
        return mean_key_usage(client, keys)
    finally:
        _delete(client, keys)


def _delete(client: RedisCluster, keys: list[str]) -> None:
    for start in range(0, len(keys), BATCH):
        pipe = client.pipeline(transaction=False)
        for key in keys[start : start + BATCH]:
            pipe.delete(key)
        pipe.execute()
