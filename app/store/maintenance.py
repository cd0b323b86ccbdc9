"""Operators' bulk work over every customer: reindex, scan (export), restore (import).

Not on the request path: these walk the whole keyspace with SCAN (every
primary of a cluster) and write in pipelines, one batch at a time, so memory
stays at one batch whatever the number of customers. Writes keep the order
the repository keeps (app/store/repository.py, Atomicity): the index entry
first, then the hash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from redis.exceptions import NoScriptError

from app.customers.model import StoredCustomer, normalize_id
from app.store.client import Client
from app.store.keys import (
    CUSTOMER_PREFIX,
    EMAIL_PREFIX,
    EMAIL_TOKEN,
    INDEX_KEY,
    SERVICE_FIELDS,
    customer_key,
    email_key,
    email_lookup,
    email_member,
    id_of_member,
    index_member,
    is_email_member,
    is_metadata_field,
    member_for,
    new_hash,
    new_token,
    split_email_member,
)
from app.store.repository import change_keys
from app.store.scripts import Scripts, flatten
from app.store.timestamps import timestamp

_DUPLICATES_READ = 1000  # customers read per address: enough to name a duplicate


class CustomerMaintenance:
    """Reindex, scan and restore customers in batches."""

    def __init__(
        self,
        client: Client,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        events: bool = True,
    ) -> None:
        """``events``: imported new customers get a ``created`` event each, like POST."""
        self._client = client
        self._clock = clock
        self._events = events
        self._create = Scripts(client).create

    def reindex(self, batch_size: int = 500) -> Iterator[int]:
        """Index every ``customer:*`` hash; yield the running count per batch.

        Rebuilds the index for data written by the sample, or by hand. Hashes
        without ``created_at`` get one, set to now, so they have a place in
        the listing order.
        """
        done = 0
        for ids in self._scan_ids(batch_size):
            done += self._index_batch(ids)
            yield done

    def scan(self, batch_size: int = 1000) -> Iterator[list[StoredCustomer]]:
        """Every ``customer:<uuid>`` hash, indexed or not, in batches."""
        for ids in self._scan_ids(batch_size):
            yield self._read_many(ids)

    def restore(self, customers: list[StoredCustomer]) -> None:
        """Write customers exactly as given (ids and timestamps too), one pipeline per batch.

        Re-running with the same customers leaves the same data, but for a new
        ``email_token``: the index entries are added first, then each hash
        gets the given fields and loses the service's fields and metadata
        entries that are not given (read with HGETALL one pipeline before: a
        metadata key that an API write adds in between is kept), then the
        email entry the hash had before is removed (that exact member, as an
        email change does). Every step is single-key, so a reader sees the old
        or the new customer, never a missing one. The entries are added again
        after the hashes: a listing that runs in between takes an entry with
        an old created_at and no hash yet for an orphan, and removes it.
        """
        customers = [self._with_token(customer) for customer in customers]
        self._index(customers)
        pipe = self._client.pipeline(transaction=False)
        for customer in customers:
            pipe.hgetall(customer_key(customer.id))
        stored = pipe.execute()
        pipe = self._client.pipeline(transaction=False)
        for customer, fields in zip(customers, stored, strict=True):
            pipe.hset(customer_key(customer.id), items=flatten(customer.fields))
            ours = [*SERVICE_FIELDS, EMAIL_TOKEN, *(name for name in fields if is_metadata_field(name))]
            absent = [name for name in ours if name not in customer.fields]
            if absent:
                pipe.hdel(customer_key(customer.id), *absent)
        pipe.execute()
        self._index(customers)
        pipe = self._client.pipeline(transaction=False)
        for customer, fields in zip(customers, stored, strict=True):
            member = member_for(fields.get("created_at", ""), customer.id)
            email, token = fields.get("email"), fields.get(EMAIL_TOKEN)
            if email and token and member is not None:
                pipe.zrem(email_key(email), email_member(member, token))
        pipe.execute()

    def create_many(self, customers: Sequence[tuple[str, dict[str, str]]]) -> list[bool]:
        """Create each (id, validated fields) unless its id exists; True where created.

        The bulk create of an import: pipelined, in the repository's order
        (every index entry, then every hash), with the same create-if-absent
        script, so a customer already there keeps its fields and created_at.
        Stamps are a microsecond apart, so the listing keeps the given order.
        Like ``restore``, no WAIT (DB_WAIT_REPLICAS): a bulk load is re-run,
        not acknowledged customer by customer.
        """
        pipe = self._client.pipeline(transaction=False)
        for customer_id, _ in customers:
            pipe.exists(customer_key(customer_id))
        # A re-run of a keyed import finds them all, and writes nothing.
        todo = [n for n, found in enumerate(pipe.execute()) if not found]
        created = [False] * len(customers)
        if not todo:
            return created
        start = self._clock()
        moments = {n: start + timedelta(microseconds=step) for step, n in enumerate(todo)}
        members = {n: index_member(moments[n], customers[n][0]) for n in todo}
        records = {n: self._with_email_token(new_hash(customers[n][1], moments[n])) for n in todo}
        pipe = self._client.pipeline(transaction=False)
        pipe.zadd(INDEX_KEY, dict.fromkeys(members.values(), 0))
        for n in todo:
            if EMAIL_TOKEN in records[n]:
                pipe.zadd(
                    email_key(records[n]["email"]), {email_member(members[n], records[n][EMAIL_TOKEN]): 0}
                )
        pipe.execute()
        writes = [[*change_keys(customers[n][0], events=self._events), *flatten(records[n])] for n in todo]
        for n, done in zip(todo, self._create_pipelined(writes), strict=True):
            created[n] = done
        # Created meanwhile, or twice in this batch: those entries name no hash of theirs.
        lost = [n for n in todo if not created[n]]
        if lost:
            pipe = self._client.pipeline(transaction=False)
            pipe.zrem(INDEX_KEY, *[members[n] for n in lost])
            for n in lost:
                if EMAIL_TOKEN in records[n]:
                    pipe.zrem(
                        email_key(records[n]["email"]), email_member(members[n], records[n][EMAIL_TOKEN])
                    )
            pipe.execute()
        return created

    def _create_pipelined(self, writes: list[list[str]]) -> list[bool]:
        """Run the create script on each [key, *field/value pairs], pipelined; True where it created."""
        replies: list[Any] = [NoScriptError()] * len(writes)
        for _ in range(2):
            # redis-py refuses evalsha in a cluster pipeline, which cannot load a
            # script on NOSCRIPT: load it on every primary, then queue it by name.
            # A primary promoted since then may lack it: those commands run again.
            pending = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if not pending:
                break
            sha = self._client.script_load(self._create.script)
            pipe = self._client.pipeline(transaction=False)
            for n in pending:
                pipe.execute_command("EVALSHA", sha, 2 if self._events else 1, *writes[n])
            for n, reply in zip(pending, pipe.execute(raise_on_error=False), strict=True):
                replies[n] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [bool(reply) for reply in replies]

    def duplicate_emails(self) -> Iterator[tuple[str, list[str]]]:
        """(address, ids) for each email that more than one customer has, from the email index.

        Run ``reindex`` first so that hashes the sample wrote are indexed too.
        Reads each index key once (SCAN over every primary): constant memory.
        """
        for key in self._client.scan_iter(f"{EMAIL_PREFIX}*", count=1000):
            read = cast(list[str], self._client.zrange(key, 0, _DUPLICATES_READ - 1))
            members = [m for m in read if is_email_member(m)]
            if len(members) < 2:
                continue
            address = key.removeprefix(EMAIL_PREFIX)
            pipe = self._client.pipeline(transaction=False)
            for member in members:
                pipe.hmget(customer_key(id_of_member(member)), ["email", EMAIL_TOKEN])
            live = sorted(
                {
                    id_of_member(member)
                    for member, (email, token) in zip(members, pipe.execute(), strict=True)
                    if token == split_email_member(member)[1] and email_lookup(email or "") == address
                }
            )
            if len(live) > 1:
                yield address, live

    def _with_email_token(self, fields: dict[str, str]) -> dict[str, str]:
        """The fields with a fresh ``email_token`` if they have an email, without one otherwise."""
        rest = {name: value for name, value in fields.items() if name != EMAIL_TOKEN}
        return {**rest, EMAIL_TOKEN: new_token(self._clock())} if "email" in rest else rest

    def _with_token(self, customer: StoredCustomer) -> StoredCustomer:
        return StoredCustomer(customer.id, self._with_email_token(customer.fields))

    def _index(self, customers: list[StoredCustomer]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for customer in customers:
            self._queue_entries(pipe, customer.id, customer.fields)
        pipe.execute()

    def _queue_entries(self, pipe: Any, customer_id: str, fields: dict[str, str]) -> int:
        """Queue the listing and email entries that ``fields`` name; 1 if listable, else 0."""
        member = member_for(fields.get("created_at", ""), customer_id)
        if member is None:
            return 0
        pipe.zadd(INDEX_KEY, {member: 0})
        if fields.get("email") and fields.get(EMAIL_TOKEN):
            pipe.zadd(email_key(fields["email"]), {email_member(member, fields[EMAIL_TOKEN]): 0})
        return 1

    def _index_batch(self, ids: list[str]) -> int:
        """Index a batch: created_at and an email_token where missing, then every entry.

        A hash with an email and no token (the sample's) gets its email entry
        before its token (the repository's order); if a writer set a token
        meanwhile, HSETNX keeps the writer's and this entry is withdrawn.
        """
        stamp = timestamp(self._clock())
        pipe = self._client.pipeline(transaction=False)
        for customer_id in ids:
            pipe.hsetnx(customer_key(customer_id), "created_at", stamp)
        pipe.execute()
        pipe = self._client.pipeline(transaction=False)
        for customer_id in ids:
            pipe.hmget(customer_key(customer_id), ["created_at", "email", EMAIL_TOKEN])
        stored = dict(zip(ids, pipe.execute(), strict=True))
        fresh = {}
        for customer_id, (created, email, token) in stored.items():
            member = member_for(created or "", customer_id)
            if email and not token and member is not None:
                fresh[customer_id] = (email_key(email), email_member(member, new_token(self._clock())))
        pipe = self._client.pipeline(transaction=False)
        done = 0
        for customer_id, (created, email, token) in stored.items():
            fields = {"created_at": created or "", "email": email or "", EMAIL_TOKEN: token or ""}
            done += self._queue_entries(pipe, customer_id, fields)
        for key, member in fresh.values():
            pipe.zadd(key, {member: 0})
        pipe.execute()
        if not fresh:
            return done
        pipe = self._client.pipeline(transaction=False)
        for customer_id, (_, member) in fresh.items():
            pipe.hsetnx(customer_key(customer_id), EMAIL_TOKEN, split_email_member(member)[1])
        lost = [entry for entry, set_now in zip(fresh.values(), pipe.execute(), strict=True) if not set_now]
        if lost:
            pipe = self._client.pipeline(transaction=False)
            for key, member in lost:
                pipe.zrem(key, member)
            pipe.execute()
        return done

    def _scan_ids(self, batch_size: int) -> Iterator[list[str]]:
        """Ids of every ``customer:<uuid>`` key (other ``customer:*`` keys are not ours)."""
        batch: list[str] = []
        for key in self._client.scan_iter(customer_key("*"), count=1000):
            customer_id = key.removeprefix(CUSTOMER_PREFIX)
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
