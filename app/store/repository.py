"""Customers in Redis: the only code that reads and writes them.

The key layout is in ``app/store/keys.py``, which only this module uses.

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

Listing reads the hashes a page of index entries names, and counts an entry
only if its hash exists and has the entry's ``created_at``: an entry for a
hash that is gone, or a second entry left by a lost idempotent race, is
skipped. An entry older than ``ORPHAN_GRACE_SECONDS`` with no hash is an
orphan left by a crash (no request lives that long) and is removed as it is
found; a younger one may belong to a create still in flight and is left alone.
``reindex`` rebuilds the index from the hashes, for data written by the sample.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis.cluster import RedisCluster

from app.store.client import Client
from app.store.durable import DurableWriter
from app.store.keys import (
    INDEX_KEY,
    customer_key,
    decode_cursor,
    encode_cursor,
    id_of_member,
    idempotency_key,
    index_member,
    member_for,
    normalize_id,
    stored_forms,
    timestamp,
)

SERVICE_FIELDS = ("name", "email", "phone", "address", "balance", "created_at", "updated_at")
ORPHAN_GRACE_SECONDS = 60
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
_MAX_FILL_ROUNDS = 5
_ETAG = re.compile(r"^[0-9a-f]{40}$")
_LUA = Path(__file__).with_name("lua")


def _script_source(name: str) -> str:
    return (_LUA / "etag.lua").read_text() + (_LUA / f"{name}.lua").read_text()


@dataclass(frozen=True)
class StoredCustomer:
    id: str
    fields: dict[str, str]

    @functools.cached_property
    def etag(self) -> str:
        return etag_of(self.fields)


@dataclass(frozen=True)
class Created:
    customer: StoredCustomer
    replayed: bool  # True when an Idempotency-Key retry got the original back


@dataclass(frozen=True)
class Idempotency:
    """An ``Idempotency-Key`` and the request it stands for."""

    scope: str  # whose key it is: keys of different clients never meet
    key: str
    fingerprint: str  # of the validated body: same key, other body is refused


@dataclass(frozen=True)
class Page:
    customers: list[StoredCustomer]
    next_cursor: str | None


class CustomerNotFound(LookupError):
    """No customer has this id."""


class PreconditionFailed(Exception):
    """``If-Match`` named a version that is not the current one."""

    def __init__(self, current_etag: str) -> None:
        super().__init__(current_etag)
        self.current_etag = current_etag


class ReadOnlyFieldDiffers(Exception):
    """A read-only field sent in an update is not the stored value."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class IdempotencyKeyReused(Exception):
    """The key was used with another body, or for a request older than 24 h."""


def etag_of(fields: dict[str, str]) -> str:
    """A strong validator of the stored hash, whoever wrote it (see lua/etag.lua)."""
    canonical = "".join(f"{len(k.encode())}:{k}{len(v.encode())}:{v}" for k, v in sorted(fields.items()))
    return hashlib.sha1(canonical.encode(), usedforsecurity=False).hexdigest()


class CustomerRepository:
    """Create, read, update, delete and list customers."""

    def __init__(
        self,
        client: Client,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._clock = clock
        self._writer = DurableWriter(client, wait_replicas, wait_timeout_ms)
        self._create = client.register_script(_script_source("create"))
        self._create_idempotent = client.register_script(_script_source("create_idempotent"))
        self._update = client.register_script(_script_source("update"))
        self._delete = client.register_script(_script_source("delete"))

    def create(self, fields: dict[str, str], idempotency: Idempotency | None = None) -> Created:
        """Store a new customer and return it.

        With an ``Idempotency-Key`` the id is derived from the key, so every
        retry and every concurrent duplicate names the same ``customer:<id>``;
        one script over that key and the key's record (same slot) creates the
        customer exactly once and remembers the request for 24 h. A retry gets
        the original customer back; the same key with another body is refused.
        """
        if idempotency is None:
            return Created(self._create_new(str(uuid.uuid4()), fields), replayed=False)
        customer_id = _id_for(idempotency)
        record_key = idempotency_key(customer_id)
        recorded = self._client.get(record_key)
        if recorded is not None:  # the common retry: no write at all
            return self._replay(customer_id, recorded, idempotency)
        moment = self._clock()
        record = _record(fields, moment)
        member = index_member(moment, customer_id)
        self._writer.run(INDEX_KEY, lambda redis: redis.zadd(INDEX_KEY, {member: 0}))
        reply = self._writer.run_script(
            self._create_idempotent,
            keys=[customer_key(customer_id), record_key],
            args=[_pack(idempotency.fingerprint, record), IDEMPOTENCY_TTL_SECONDS, *_flatten(record)],
        )
        if reply[0] == "created":
            return Created(StoredCustomer(customer_id, record), replayed=False)
        self._client.zrem(INDEX_KEY, member)  # a concurrent duplicate won
        if reply[0] == "replay":
            return self._replay(customer_id, reply[1], idempotency)
        raise IdempotencyKeyReused("the key was used for a request more than 24 h ago")

    def get(self, customer_id: str) -> StoredCustomer:
        """Return the customer or raise ``CustomerNotFound``."""
        fields = self._client.hgetall(customer_key(customer_id))
        if not fields:
            raise CustomerNotFound(customer_id)
        return StoredCustomer(customer_id, fields)

    def update(
        self,
        customer_id: str,
        changes: dict[str, str],
        removed: list[str],
        if_match: list[str] | None = None,
        unchanged: dict[str, str | None] | None = None,
    ) -> StoredCustomer:
        """Set and remove fields of an existing customer, atomically; never create one.

        ``if_match`` lists the acceptable current ETags (``["*"]``: any);
        ``None`` means no condition. Raise ``PreconditionFailed`` otherwise.
        ``unchanged`` maps timestamps to the value the API showed for them
        (None: no timestamp); the write happens only if each is still stored,
        else ``ReadOnlyFieldDiffers`` names the first that is not.
        """
        unchanged = unchanged or {}
        if not changes and not removed and if_match is None and not unchanged:
            return self.get(customer_id)
        record = {**changes, "updated_at": timestamp(self._clock())} if changes or removed else {}
        checks = [item for name in sorted(unchanged) for item in (name, *stored_forms(unchanged[name]))]
        reply = self._writer.run_script(
            self._update,
            keys=[customer_key(customer_id)],
            args=[_condition(if_match), len(unchanged), *checks, len(record), *_flatten(record), *removed],
        )
        _raise_for(reply, customer_id)
        return StoredCustomer(customer_id, dict(zip(reply[1::2], reply[2::2], strict=True)))

    def delete(self, customer_id: str, if_match: list[str] | None = None) -> None:
        """Delete the customer, then its index entry."""
        reply = self._writer.run_script(
            self._delete, keys=[customer_key(customer_id)], args=[_condition(if_match)]
        )
        _raise_for(reply, customer_id)
        member = member_for(reply[1], customer_id)
        if member is not None:
            self._client.zrem(INDEX_KEY, member)

    def list(self, limit: int, cursor: str | None = None) -> Page:
        """Return up to ``limit`` customers created after ``cursor``, oldest first."""
        after = decode_cursor(cursor) if cursor else None
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
        return Page(found, encode_cursor(after) if after else None)

    def reindex(self, batch_size: int = 500) -> Iterator[int]:
        """Index every ``customer:*`` hash; yield the running count per batch.

        Hashes without ``created_at`` (written by the sample) get one, set to
        now, so they have a place in the listing order.
        """
        done = 0
        for ids in self._scan_ids(batch_size):
            done += self._index_batch(ids)
            yield done

    def scan(self, batch_size: int = 1000) -> Iterator[list[StoredCustomer]]:
        """Every ``customer:<uuid>`` hash, indexed or not, in batches.

        SCAN walks every primary; memory stays at one batch, whatever the total.
        """
        for ids in self._scan_ids(batch_size):
            yield self._read_many(ids)

    def restore(self, customers: list[StoredCustomer]) -> None:
        """Write customers exactly as given (ids and timestamps too), one pipeline per batch.

        Re-running with the same customers leaves the same data: the index
        entry is added first, then each hash gets the given fields and loses
        the service's fields that are not given. Every step is single-key, so
        a reader sees the old or the new customer, never a missing one.
        """
        pipe = self._client.pipeline(transaction=False)
        for customer in customers:
            member = member_for(customer.fields.get("created_at", ""), customer.id)
            if member is not None:
                pipe.zadd(INDEX_KEY, {member: 0})
        pipe.execute()
        pipe = self._client.pipeline(transaction=False)
        for customer in customers:
            pipe.hset(customer_key(customer.id), mapping=customer.fields)
            absent = [name for name in SERVICE_FIELDS if name not in customer.fields]
            if absent:
                pipe.hdel(customer_key(customer.id), *absent)
        pipe.execute()

    @property
    def client(self) -> Client:
        """The Redis client, for diagnostics (check-config) only."""
        return self._client

    def ping(self) -> None:
        """Raise unless every primary answers."""
        if isinstance(self._client, RedisCluster):
            self._client.ping(target_nodes=RedisCluster.PRIMARIES)
        else:
            self._client.ping()

    def _create_new(self, customer_id: str, fields: dict[str, str]) -> StoredCustomer:
        moment = self._clock()
        record = _record(fields, moment)
        member = index_member(moment, customer_id)
        # With DB_WAIT_REPLICAS, the index entry is made durable too: an
        # acknowledged customer must stay listable after a failover.
        self._writer.run(INDEX_KEY, lambda redis: redis.zadd(INDEX_KEY, {member: 0}))
        if not self._writer.run_script(self._create, keys=[customer_key(customer_id)], args=_flatten(record)):
            # Only a retry of this very write (after a lost reply) finds the key.
            stored = self.get(customer_id)
            if stored.fields.get("created_at") != record["created_at"]:
                raise RuntimeError(f"customer id collision on {customer_id}")
        return StoredCustomer(customer_id, record)

    def _replay(self, customer_id: str, recorded: str, idempotency: Idempotency) -> Created:
        fingerprint, record = _unpack(recorded)
        if fingerprint != idempotency.fingerprint:
            raise IdempotencyKeyReused("the key was used with a different request body")
        return Created(StoredCustomer(customer_id, record), replayed=True)

    def _index_batch(self, ids: list[str]) -> int:
        stamp = timestamp(self._clock())
        pipe = self._client.pipeline(transaction=False)
        for customer_id in ids:
            pipe.hsetnx(customer_key(customer_id), "created_at", stamp)
        pipe.execute()
        pipe = self._client.pipeline(transaction=False)
        for customer_id in ids:
            pipe.hget(customer_key(customer_id), "created_at")
        members = {}
        for customer_id, created in zip(ids, pipe.execute(), strict=True):
            member = member_for(created or "", customer_id)
            if member is not None:
                members[member] = 0
        if members:
            self._client.zadd(INDEX_KEY, members)
        return len(members)

    def _scan_ids(self, batch_size: int) -> Iterator[list[str]]:
        """Ids of every ``customer:<uuid>`` key (other ``customer:*`` keys are not ours)."""
        batch: list[str] = []
        for key in self._client.scan_iter(customer_key("*"), count=1000):
            customer_id = key.removeprefix(customer_key(""))
            if normalize_id(customer_id) == customer_id:
                batch.append(customer_id)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _read_many(self, ids: list[str]) -> list[StoredCustomer]:
        pipe = self._client.pipeline(transaction=False)
        for customer_id in ids:
            pipe.hgetall(customer_key(customer_id))
        return [StoredCustomer(i, fields) for i, fields in zip(ids, pipe.execute(), strict=True) if fields]

    def _read_live(self, members: list[str]) -> list[StoredCustomer]:
        if not members:
            return []
        pipe = self._client.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(customer_key(id_of_member(member)))
        live, stale = [], []
        cutoff = index_member(self._clock() - timedelta(seconds=ORPHAN_GRACE_SECONDS), "")
        for member, fields in zip(members, pipe.execute(), strict=True):
            customer_id = id_of_member(member)
            if fields and _belongs_under(member, fields, customer_id):
                live.append(StoredCustomer(customer_id, fields))
            elif member < cutoff:
                stale.append(member)
        if stale:
            self._client.zrem(INDEX_KEY, *stale)
        return live


def _raise_for(reply: list[str], customer_id: str) -> None:
    if reply[0] == "missing":
        raise CustomerNotFound(customer_id)
    if reply[0] == "mismatch":
        raise PreconditionFailed(reply[1])
    if reply[0] == "readonly":
        raise ReadOnlyFieldDiffers(reply[1])


def _condition(if_match: list[str] | None) -> str:
    if if_match is None:
        return ""
    if "*" in if_match:
        return "*"
    # Only well-formed tags reach the script; an empty list matches nothing.
    return " ".join(tag for tag in if_match if _ETAG.match(tag)) or "-"


def _id_for(idempotency: Idempotency) -> str:
    digest = hashlib.sha256(f"{idempotency.scope}\0{idempotency.key}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _record(fields: dict[str, str], moment: datetime) -> dict[str, str]:
    stamp = timestamp(moment)
    return {**fields, "created_at": stamp, "updated_at": stamp}


def _pack(fingerprint: str, record: dict[str, str]) -> str:
    return json.dumps({"fingerprint": fingerprint, "customer": record}, separators=(",", ":"))


def _unpack(recorded: str) -> tuple[str, dict[str, str]]:
    data = json.loads(recorded)
    return data["fingerprint"], data["customer"]


def _flatten(record: dict[str, str]) -> list[str]:
    return [item for pair in record.items() for item in pair]


def _belongs_under(member: str, fields: dict[str, str], customer_id: str) -> bool:
    """Whether this hash's created_at names this index entry (or cannot be read)."""
    expected = member_for(fields.get("created_at", ""), customer_id)
    return expected is None or expected == member
