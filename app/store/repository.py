"""Customers in Redis, on the request path: create, get, update, delete, list, ping.

Every key and index member comes from ``keys.py``, which describes the
layout; operators' bulk work (reindex, export, import) is ``maintenance.py``.

Atomicity
---------
Cluster mode forbids transactions across slots, and the hash and the index
live in different slots. Each step that must be atomic touches one key and
is one Lua script (create-if-absent, update-if-exists, delete-and-return);
the index is written in a separate step, in an order chosen so that a crash
between the two writes can only leave an index entry without a customer,
never a customer without an index entry:

* create: add the index entry, then create the hash (both sent at once,
  the entry first, so they cost one round trip: see ``_create_listed``);
* delete: delete the hash, then remove the index entry.

The event of each change (docs/events.md) is added by the change's own
script to the outbox of the customer's slot (``keys.outbox_key``), so the
two are one atomic step; this process's relay thread (``relay.py``) then
moves it into the feed, which ``events`` reads (``events.py``).

Listing (``listing.py``) skips an index entry whose hash is missing or has
another ``created_at``, and removes such orphans once they are old enough.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from app.customers.model import (
    MAX_METADATA_KEYS,
    Created,
    CustomerNotFound,
    EventPage,
    Idempotency,
    IdempotencyKeyReused,
    Page,
    StoredCustomer,
)
from app.store.client import Client
from app.store.durable import DurableWriter, NotTogether
from app.store.events import EventFeed
from app.store.keys import (
    INDEX_KEY,
    METADATA_PREFIX,
    customer_key,
    idempotency_key,
    index_member,
    member_for,
    new_hash,
    outbox_key,
)
from app.store.listing import read_page
from app.store.nodes import Nodes, script_command
from app.store.relay import Relayer
from app.store.scripts import Scripts, condition, flatten, raise_for
from app.store.timestamps import stored_forms, timestamp

IDEMPOTENCY_TTL_SECONDS = 24 * 3600

log = logging.getLogger(__name__)


class CustomerRepository:
    """Create, read, update, delete and list customers."""

    def __init__(
        self,
        client: Client,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        events: bool = True,
        retention_hours: float = 168.0,
        relay: bool = False,
    ) -> None:
        """``relay``: start this process's relay thread (the service does; tests may relay by hand)."""
        self._client = client
        self._clock = clock
        self._nodes = Nodes(client)
        self._writer = DurableWriter(client, wait_replicas, wait_timeout_ms)
        self._scripts = Scripts(client)
        self._events = events
        self.feed = EventFeed(
            client,
            self._writer,
            self._scripts,
            retention_hours=retention_hours,
            clock=clock,
            wait_replicas=wait_replicas,
        )
        self._relayer = Relayer(client, self.feed) if events and relay else None
        if self._relayer is not None:
            self._relayer.start()

    def create(self, fields: dict[str, str], idempotency: Idempotency | None = None) -> Created:
        """Store a new customer and return it.

        With an ``Idempotency-Key`` the id is derived from the key, so every
        retry and every concurrent duplicate names the same ``customer:<id>``;
        one script over that key and the key's record (same slot) creates the
        customer exactly once and remembers the request for 24 h. A retry gets
        the original customer back; the same key with another body is refused.
        """
        if idempotency is None:
            customer_id = str(uuid.uuid4())
        else:
            customer_id = _id_for(idempotency)
            record_key = idempotency_key(customer_id)
            recorded = cast(str | None, self._nodes.execute(record_key, "GET", record_key))
            if recorded is not None:  # the common retry: no write at all
                return self._replay(customer_id, recorded, idempotency)
        moment = self._clock()
        record = new_hash(fields, moment)
        member = index_member(moment, customer_id)
        if idempotency is None:
            self._create_listed(customer_id, record, member)
            return Created(StoredCustomer(customer_id, record), replayed=False)
        # The index entry first, then the hash (see Atomicity).
        self._writer.run(INDEX_KEY, "ZADD", INDEX_KEY, 0, member)
        return self._create_once(customer_id, record, member, idempotency)

    def get(self, customer_id: str) -> StoredCustomer:
        """Return the customer or raise ``CustomerNotFound``."""
        key = customer_key(customer_id)
        fields = cast(dict[str, str], self._nodes.execute(key, "HGETALL", key))
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
        *,
        clear_metadata: bool = False,
    ) -> StoredCustomer:
        """Set and remove fields of an existing customer, atomically; never create one.

        ``if_match`` lists the acceptable current ETags (``["*"]``: any);
        ``None`` means no condition. Raise ``PreconditionFailed`` otherwise.
        ``unchanged`` maps timestamps to the value the API showed for them
        (None: no timestamp); the write happens only if each is still stored,
        else ``ReadOnlyFieldDiffers`` names the first that is not.
        ``clear_metadata`` removes every metadata entry first. A write that
        would leave more than ``MAX_METADATA_KEYS`` entries writes nothing and
        raises ``TooManyMetadataKeys``: the script counts them, atomically.
        """
        unchanged = unchanged or {}
        if not changes and not removed and if_match is None and not unchanged and not clear_metadata:
            return self.get(customer_id)
        changed = changes or removed or clear_metadata
        record = {**changes, "updated_at": timestamp(self._clock())} if changed else {}
        checks = [item for name in sorted(unchanged) for item in (name, *stored_forms(unchanged[name]))]
        reply = self._writer.run_script(
            self._scripts.update,
            keys=change_keys(customer_id, events=self._events),
            args=[
                condition(if_match),
                METADATA_PREFIX,
                int(clear_metadata),
                MAX_METADATA_KEYS,
                len(unchanged),
                *checks,
                len(record),
                *flatten(record),
                *removed,
            ],
        )
        raise_for(reply, customer_id)
        self._relay(customer_id)
        return StoredCustomer(customer_id, dict(zip(reply[1::2], reply[2::2], strict=True)))

    def delete(self, customer_id: str, if_match: list[str] | None = None) -> None:
        """Delete the customer, then its index entry."""
        reply = self._writer.run_script(
            self._scripts.delete,
            keys=change_keys(customer_id, events=self._events),
            args=[condition(if_match)],
        )
        raise_for(reply, customer_id)
        self._relay(customer_id)
        member = member_for(reply[1], customer_id)
        if member is not None:
            self._nodes.execute(INDEX_KEY, "ZREM", INDEX_KEY, member)

    def list(self, limit: int, cursor: str | None = None) -> Page:
        """Return up to ``limit`` customers created after ``cursor``, oldest first."""
        return read_page(self._client, self._clock, limit, cursor)

    def events(self, limit: int, cursor: str | None = None) -> EventPage:
        """Return up to ``limit`` change events after ``cursor``, in feed order."""
        return self.feed.read(limit, cursor)

    def ping(self) -> None:
        """Raise unless every primary answers."""
        if isinstance(self._client, RedisCluster):
            self._client.ping(target_nodes=RedisCluster.PRIMARIES)
        else:
            self._client.ping()

    def _create_listed(self, customer_id: str, record: dict[str, str], member: str) -> None:
        """Write the index entry and the hash together, or else one after the other.

        Together: the entry's batch is written to its primary's connection
        before the hash's, and both before either reply is read, so they cost
        one round trip. A worker that dies between the two writes has sent
        only the entry; once both are sent, the kernel delivers both. If
        either fails (a redirection, a node down, too few replicas), both are
        written again one at a time, the entry first: each is idempotent, and
        the hash found there is this very write. Should the entry still fail,
        the hash this request may have written is deleted before the error
        is answered. A node that timed out is not asked again: the request
        fails at once, after deleting the hash if it was written.
        """
        key = customer_key(customer_id)
        keys = change_keys(customer_id, events=self._events)
        entry = ("ZADD", INDEX_KEY, 0, member)
        try:
            _, created = self._writer.run_together(
                [(INDEX_KEY, entry), (key, script_command(self._scripts.create, keys, flatten(record)))]
            )
        except NotTogether as failed:
            if failed.timeout is not None:
                # A node that does not answer in time will not answer a retry
                # sooner: answer now (503), without a hash that has no entry.
                if failed.replies[0] is None and failed.replies[1] == 1:
                    self._undo_create(customer_id)
                raise failed.timeout from failed
            # The owners had their attempt: now the cluster client's way, which
            # follows redirections and waits out a failover.
            try:
                self._writer.run(INDEX_KEY, *entry, direct=False)
            except Exception:
                if failed.replies[1] != 0:  # the hash may be this request's
                    self._undo_create(customer_id)
                raise
            created = self._writer.run_script(self._scripts.create, keys, flatten(record), direct=False)
        self._relay(customer_id)
        if not created:
            # Only a second run of this very write finds the key.
            stored = self.get(customer_id)
            if stored.fields.get("created_at") != record["created_at"]:
                raise RuntimeError(f"customer id collision on {customer_id}")

    def _undo_create(self, customer_id: str) -> None:
        # One attempt: the request is failing already, and its answer must not
        # wait. Nobody but this request knows the new id yet; the delete script
        # (not a plain DEL) so that the create's event is followed by a delete's.
        keys = change_keys(customer_id, events=self._events)
        try:
            self._nodes.script(self._scripts.delete, keys, [""])
            self._relay(customer_id)
        except (RedisError, RedisClusterException):
            log.error(
                "customer %s may be missing from the listing until `flask customers reindex`", customer_id
            )

    def _create_once(
        self, customer_id: str, record: dict[str, str], member: str, idempotency: Idempotency
    ) -> Created:
        keys = [customer_key(customer_id), idempotency_key(customer_id)]
        reply = self._writer.run_script(
            self._scripts.create_idempotent,
            keys=keys + change_keys(customer_id, events=self._events)[1:],
            args=[_pack(idempotency.fingerprint, record), IDEMPOTENCY_TTL_SECONDS, *flatten(record)],
        )
        if reply[0] == "created":
            self._relay(customer_id)
            return Created(StoredCustomer(customer_id, record), replayed=False)
        self._nodes.execute(INDEX_KEY, "ZREM", INDEX_KEY, member)  # a concurrent duplicate won
        if reply[0] == "replay":
            return self._replay(customer_id, reply[1], idempotency)
        raise IdempotencyKeyReused("the key was used for a request more than 24 h ago")

    def _relay(self, customer_id: str) -> None:
        if self._relayer is not None:
            self._relayer.notify(outbox_key(customer_id))

    def _replay(self, customer_id: str, recorded: str, idempotency: Idempotency) -> Created:
        fingerprint, record = _unpack(recorded)
        if fingerprint != idempotency.fingerprint:
            raise IdempotencyKeyReused("the key was used with a different request body")
        return Created(StoredCustomer(customer_id, record), replayed=True)


def change_keys(customer_id: str, *, events: bool) -> list[str]:
    """The keys of a change script: the hash, and its slot's outbox when events are on."""
    key = customer_key(customer_id)
    return [key, outbox_key(customer_id)] if events else [key]


def _id_for(idempotency: Idempotency) -> str:
    digest = hashlib.sha256(f"{idempotency.scope}\0{idempotency.key}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _pack(fingerprint: str, record: dict[str, str]) -> str:
    return json.dumps({"fingerprint": fingerprint, "customer": record}, separators=(",", ":"))


def _unpack(recorded: str) -> tuple[str, dict[str, str]]:
    data = json.loads(recorded)
    return data["fingerprint"], data["customer"]
