"""Customers in Redis: the only code that knows the key layout.

Keys
----
``customer:<id>``
    One hash per customer, every value a plain string: ``name``, ``email``,
    ``phone``, ``address``, ``balance``, ``created_at``, ``updated_at``.
    ``<id>`` is a lowercase UUID. Hashes written by the original sample (the
    first five fields only) are read as they are.
``customers:index``
    A sorted set with every score 0, so members sort by bytes: each member is
    ``<created_at in microseconds, 16 digits>:<id>``. Byte order is creation
    order, and a page is ``ZRANGE customers:index (<last member> + BYLEX
    LIMIT 0 n``: O(log N + n), whatever the number of customers, on one key,
    so it works the same on a cluster as on one server.

Atomicity
---------
Cluster mode forbids transactions across slots, and the hash and the index
live in different slots. Each step that must be atomic touches one key and
is one Lua script (create-if-absent, update-if-exists, delete-and-return);
the index is written in a separate step, in an order chosen so that a crash
between the two writes can only leave an index entry without a customer,
never a customer without an index entry:

* create: add the index entry, then create the hash;
* delete: delete the hash, then remove the index entry.

Listing reads the hashes a page of index entries names and skips entries whose
hash is gone. An entry older than ``ORPHAN_GRACE_SECONDS`` with no hash is an
orphan left by a crash (no request lives that long) and is removed as it is
found; a younger one may belong to a create still in flight and is left alone.
``reindex`` rebuilds the index from the hashes, for data written by the sample.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.cluster import RedisCluster

from app.redis_client import Client

INDEX_KEY = "customers:index"
ORPHAN_GRACE_SECONDS = 60
_MAX_FILL_ROUNDS = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MEMBER = re.compile(r"^[0-9]{16}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# ARGV: number of field/value pairs to set, the pairs, then fields to remove.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local pairs = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * pairs))
if #ARGV > 1 + 2 * pairs then
  redis.call('HDEL', KEYS[1], unpack(ARGV, 2 + 2 * pairs))
end
return redis.call('HGETALL', KEYS[1])
"""

_DELETE = """
local created = redis.call('HGET', KEYS[1], 'created_at')
if redis.call('DEL', KEYS[1]) == 0 then return false end
return created or ''
"""


@dataclass(frozen=True)
class StoredCustomer:
    id: str
    fields: dict[str, str]

    @property
    def etag(self) -> str:
        return etag_of(self.fields)


@dataclass(frozen=True)
class Page:
    customers: list[StoredCustomer]
    next_cursor: str | None


class CustomerNotFound(LookupError):
    """No customer has this id."""


class InvalidCursor(ValueError):
    """A listing cursor that this service did not hand out."""


def etag_of(fields: dict[str, str]) -> str:
    """A strong validator of the stored hash, whoever wrote it.

    SHA-1 over the length-prefixed fields in byte order, a form a Lua script
    can reproduce with ``redis.sha1hex`` to check ``If-Match`` on the server.
    """
    canonical = "".join(f"{len(k.encode())}:{k}{len(v.encode())}:{v}" for k, v in sorted(fields.items()))
    return hashlib.sha1(canonical.encode(), usedforsecurity=False).hexdigest()


def normalize_id(raw: str) -> str | None:
    """Return the canonical id, or None for anything that is not a UUID."""
    lowered = raw.lower()
    return lowered if _ID.match(lowered) else None


class CustomerRepository:
    """Create, read, update, delete and list customers."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._create = client.register_script(_CREATE)
        self._update = client.register_script(_UPDATE)
        self._delete = client.register_script(_DELETE)

    def create(self, fields: dict[str, str], now: datetime | None = None) -> StoredCustomer:
        """Store a new customer with a fresh id and return it."""
        moment = now or datetime.now(UTC)
        stamp = _timestamp(moment)
        record = {**fields, "created_at": stamp, "updated_at": stamp}
        customer_id = str(uuid.uuid4())
        self._client.zadd(INDEX_KEY, {_member(moment, customer_id): 0})
        if not self._create(keys=[_key(customer_id)], args=_flatten(record)):
            raise RuntimeError(f"customer id collision on {customer_id}")
        return StoredCustomer(customer_id, record)

    def get(self, customer_id: str) -> StoredCustomer:
        """Return the customer or raise ``CustomerNotFound``."""
        fields = self._client.hgetall(_key(customer_id))
        if not fields:
            raise CustomerNotFound(customer_id)
        return StoredCustomer(customer_id, fields)

    def update(self, customer_id: str, changes: dict[str, str], removed: list[str]) -> StoredCustomer:
        """Set and remove fields of an existing customer, atomically; never create one."""
        if not changes and not removed:
            return self.get(customer_id)
        record = {**changes, "updated_at": _timestamp(datetime.now(UTC))}
        pairs = _flatten(record)
        reply = self._update(keys=[_key(customer_id)], args=[len(record), *pairs, *removed])
        if reply is None:
            raise CustomerNotFound(customer_id)
        return StoredCustomer(customer_id, dict(zip(reply[::2], reply[1::2], strict=True)))

    def delete(self, customer_id: str) -> None:
        """Delete the customer, then its index entry; raise ``CustomerNotFound``."""
        created = self._delete(keys=[_key(customer_id)])
        if created is None:
            raise CustomerNotFound(customer_id)
        moment = _parse_timestamp(created)
        if moment is not None:
            self._client.zrem(INDEX_KEY, _member(moment, customer_id))

    def list(self, limit: int, cursor: str | None = None) -> Page:
        """Return up to ``limit`` customers created after ``cursor``, oldest first."""
        after = _decode_cursor(cursor) if cursor else None
        found: list[StoredCustomer] = []
        for _ in range(_MAX_FILL_ROUNDS):
            wanted = limit - len(found)
            start = f"({after}" if after else "-"
            members = self._client.zrange(INDEX_KEY, start, "+", bylex=True, offset=0, num=wanted + 1)
            batch = members[:wanted]
            found.extend(self._read_live(batch))
            if batch:
                after = batch[-1]
            if len(members) <= wanted:
                return Page(found, None)
            if len(found) == limit:
                break
        # More entries remain (or orphans kept us from filling the page in a
        # bounded number of rounds): the client continues from here.
        return Page(found, _encode_cursor(after) if after else None)

    def reindex(self, batch_size: int = 500) -> Iterator[int]:
        """Index every ``customer:*`` hash; yield the running count per batch.

        Hashes without ``created_at`` (written by the sample) get one, set to
        now, so they have a place in the listing order.
        """
        done = 0
        ids = (key.removeprefix("customer:") for key in self._client.scan_iter("customer:*", count=1000))
        batch: list[str] = []
        for customer_id in ids:
            if normalize_id(customer_id) == customer_id:
                batch.append(customer_id)
            if len(batch) >= batch_size:
                done += self._index_batch(batch)
                batch = []
                yield done
        if batch:
            done += self._index_batch(batch)
            yield done

    def ping(self) -> None:
        """Raise unless every primary answers."""
        if isinstance(self._client, RedisCluster):
            self._client.ping(target_nodes=RedisCluster.PRIMARIES)
        else:
            self._client.ping()

    def _index_batch(self, ids: list[str]) -> int:
        stamp = _timestamp(datetime.now(UTC))
        pipe = self._client.pipeline(transaction=False)
        for customer_id in ids:
            pipe.hsetnx(_key(customer_id), "created_at", stamp)
        pipe.execute()
        pipe = self._client.pipeline(transaction=False)
        for customer_id in ids:
            pipe.hget(_key(customer_id), "created_at")
        members = {}
        for customer_id, created in zip(ids, pipe.execute(), strict=True):
            moment = _parse_timestamp(created or "")
            if moment is not None:
                members[_member(moment, customer_id)] = 0
        if members:
            self._client.zadd(INDEX_KEY, members)
        return len(members)

    def _read_live(self, members: list[str]) -> list[StoredCustomer]:
        if not members:
            return []
        pipe = self._client.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(_key(member.split(":", 1)[1]))
        live, orphans = [], []
        cutoff = (time.time() - ORPHAN_GRACE_SECONDS) * 1_000_000
        for member, fields in zip(members, pipe.execute(), strict=True):
            micros, customer_id = member.split(":", 1)
            if fields:
                live.append(StoredCustomer(customer_id, fields))
            elif int(micros) < cutoff:
                orphans.append(member)
        if orphans:
            self._client.zrem(INDEX_KEY, *orphans)
        return live


def _key(customer_id: str) -> str:
    return f"customer:{customer_id}"


def _member(moment: datetime, customer_id: str) -> str:
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    return f"{micros:016d}:{customer_id}"


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_timestamp(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _flatten(record: dict[str, str]) -> list[str]:
    return [item for pair in record.items() for item in pair]


def _encode_cursor(member: str) -> str:
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # binascii.Error, non-ASCII input, bad UTF-8
        raise InvalidCursor(cursor) from None
    if not _MEMBER.match(member):
        raise InvalidCursor(cursor)
    return member
