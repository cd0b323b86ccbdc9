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

* create: add the index entries (listing and email), then create the hash
  (all sent at once, the entries first, so they cost one round trip: see
  ``_create_listed``);
* email change: add the new email's entry, then write the hash with the new
  email and the entry's token (only if the hash still has the token the
  writer read), then remove the old email's entry, that exact member;
* delete: delete the hash, then remove its index entries.

The event of each change (docs/events.md) is added by the change's own
script to the outbox of the customer's slot (``keys.outbox_key``), so the
two are one atomic step; this process's relay thread (``relay.py``) then
moves it into the feed, which ``events`` reads (``events.py``).

Listing (``listing.py``) skips an entry its hash does not agree with, and
removes such stale entries once they are old enough. docs/consistency.md
says why this keeps every customer findable under its email through races
and crashes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from app.customers.model import (
    MAX_METADATA_KEYS,
    Created,
    CustomerNotFound,
    EmailChangeContended,
    EmailTaken,
    EventPage,
    Filters,
    Idempotency,
    IdempotencyKeyReused,
    Page,
    StoredCustomer,
)
from app.store.client import Client
from app.store.durable import DurableWriter, NotTogether
from app.store.email_claims import EmailClaims
from app.store.events import EventFeed
from app.store.keys import (
    EMAIL_TOKEN,
    INDEX_KEY,
    METADATA_PREFIX,
    customer_key,
    email_key,
    email_lookup,
    email_member,
    idempotency_key,
    index_member,
    member_for,
    new_hash,
    new_token,
    outbox_key,
)
from app.store.listing import read_page
from app.store.nodes import Nodes, script_command
from app.store.relay import Relayer
from app.store.scripts import Scripts, condition, flatten, raise_for
from app.store.timestamps import stored_forms, timestamp

# Aliases: inside the class, ``list`` is the listing method.
Entries = list[tuple[str, str]]  # (sorted set key, member)
Strings = list[str]

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# An email change retries when another write changed the email between its
# read and its write; each retry means that other write succeeded.
_EMAIL_ATTEMPTS = 8
# Entries read to find a customer from before UNIQUE_EMAILS (at most a few live).
_HOLDERS_READ = 20

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
        unique_emails: bool = False,
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
        self._claims = EmailClaims(client, self._writer, self._scripts, clock) if unique_emails else None

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
        entries = [(INDEX_KEY, member)]
        email = fields.get("email")
        if email is not None:
            token = new_token(moment)
            record[EMAIL_TOKEN] = token
            entries.append((email_key(email), email_member(member, token)))
            if self._claims is not None:
                self._claim_for_create(email, customer_id, token, entries)
        if idempotency is None:
            self._create_listed(customer_id, record, entries)
            return Created(StoredCustomer(customer_id, record), replayed=False)
        # The index entries first, then the hash (see Atomicity).
        self._add_entries(entries)
        return self._create_once(customer_id, record, entries, idempotency)

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

        def write(email_condition: str, record: dict[str, str], removed: Strings) -> Strings:
            reply: Strings = self._writer.run_script(
                self._scripts.update,
                keys=change_keys(customer_id, events=self._events),
                args=[
                    condition(if_match),
                    METADATA_PREFIX,
                    int(clear_metadata),
                    MAX_METADATA_KEYS,
                    email_condition,
                    len(unchanged),
                    *checks,
                    len(record),
                    *flatten(record),
                    *removed,
                ],
            )
            return reply

        if "email" in changes:
            reply = write(f"is:{changes['email']}", record, removed)
        elif "email" in removed:
            reply = write("absent", record, removed)
        else:
            reply = write("", record, removed)
        for _ in range(_EMAIL_ATTEMPTS):
            if reply[0] != "email":
                break
            # The email changes: index the new one before the hash names it.
            reply = self._change_email(customer_id, reply[1:], record, removed, write)
        else:
            raise EmailChangeContended(customer_id)
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
        _, created, email, token = reply
        member = member_for(created, customer_id)
        if member is None:
            return
        entries = [(INDEX_KEY, member)]
        if email and token:
            entries.append((email_key(email), email_member(member, token)))
        self._remove_entries(entries)
        if email and token and self._claims is not None:
            # Whatever its token: an idempotent duplicate may have claimed with its own.
            self._claims.release(email, customer_id)  # free again at once

    def list(self, limit: int, cursor: str | None = None, filters: Filters | None = None) -> Page:
        """Return up to ``limit`` customers matching ``filters`` after ``cursor``, in their order."""
        return read_page(self._client, self._clock, limit, cursor, filters or Filters())

    def events(self, limit: int, cursor: str | None = None) -> EventPage:
        """Return up to ``limit`` change events after ``cursor``, in feed order."""
        return self.feed.read(limit, cursor)

    def ping(self) -> None:
        """Raise unless every primary answers."""
        if isinstance(self._client, RedisCluster):
            self._client.ping(target_nodes=RedisCluster.PRIMARIES)
        else:
            self._client.ping()

    def _change_email(
        self,
        customer_id: str,
        stored: Strings,
        record: dict[str, str],
        removed: Strings,
        write: Callable[[str, dict[str, str], Strings], Strings],
    ) -> Strings:
        """Index the new email, write the hash if its token is still ``stored``'s, unindex the old one.

        ``stored`` is (created_at, email, email_token) as the hash had them.
        Returns the write's reply; ``['email', ...]`` again if another write
        changed the email meanwhile (this entry is then withdrawn).
        """
        created, old_email, old_token = stored
        member = member_for(created, customer_id)
        new_entry = None
        email = record.get("email")
        if email is not None and member is not None:
            token = new_token(self._clock())
            new_entry = (email_key(email), email_member(member, token))
            record = {**record, EMAIL_TOKEN: token}
            self._claim(email, customer_id, token)
            holders = self._add_entries([new_entry], email)
            self._refuse_if_held(
                email,
                customer_id=customer_id,
                token=token,
                holders=holders,
                entries=[new_entry],
                old_email=old_email,
            )
        else:
            removed = sorted({*removed, EMAIL_TOKEN})
        reply = write(f"token:{old_token}", record, removed)
        if reply[0] != "ok":
            if new_entry is not None:
                self._remove_entries([new_entry])  # it names a write that did not happen
                if reply[0] != "email":
                    self._release_new(email, customer_id, record[EMAIL_TOKEN], old_email)
            return reply
        if old_email and old_token and member is not None:
            self._remove_entries([(email_key(old_email), email_member(member, old_token))])
        moved = email is None or email_lookup(email) != email_lookup(old_email)
        if old_email and old_token and self._claims is not None and moved:
            self._claims.release(old_email, customer_id, old_token)  # free again at once
        return reply

    def _claim(self, email: str, customer_id: str, token: str) -> None:
        if self._claims is not None:
            self._claims.claim(email, customer_id, token)

    def _refuse_if_held(
        self,
        email: str,
        *,
        customer_id: str,
        token: str,
        holders: Strings,
        entries: Entries,
        old_email: str | None,
    ) -> None:
        """With UNIQUE_EMAILS: undo this write's claim and entries if an unclaimed holder has the email."""
        if self._claims is None:
            return
        try:
            self._claims.refuse_if_held(email, customer_id, holders)
        except EmailTaken:
            self._remove_entries(entries)
            self._release_new(email, customer_id, token, old_email)
            raise

    def _release_new(self, email: str | None, customer_id: str, token: str, old_email: str | None) -> None:
        # The claim this write took, unless it is the one the customer's current email holds.
        if self._claims is None or email is None:
            return
        if old_email is None or email_lookup(old_email) != email_lookup(email):
            self._claims.release(email, customer_id, token)

    def _add_entries(self, entries: Entries, email: str | None = None) -> Strings:
        """Add the entries; with UNIQUE_EMAILS also read (same round trip) whom ``email``'s index names."""

        commands: list[tuple[str, tuple[Any, ...]]] = [
            (key, ("ZADD", key, 0, member)) for key, member in entries
        ]
        if self._claims is not None and email is not None:
            key = email_key(email)
            commands.append((key, ("ZRANGE", key, 0, _HOLDERS_READ - 1)))
            return cast(Strings, self._writer.run_each(commands)[-1])
        self._writer.run_each(commands)
        return []

    def _remove_entries(self, entries: Entries) -> None:
        # No WAIT: an entry that comes back after a failover is stale, and skipped.
        pipe = self._client.pipeline(transaction=False)
        for key, member in entries:
            pipe.zrem(key, member)
        pipe.execute()

    def _claim_for_create(self, email: str, customer_id: str, token: str, entries: Entries) -> None:
        """With UNIQUE_EMAILS: claim the email, and refuse it if a customer from before holds it."""
        self._claim(email, customer_id, token)
        key = email_key(email)
        holders = cast(Strings, self._nodes.execute(key, "ZRANGE", key, 0, _HOLDERS_READ - 1))
        self._refuse_if_held(
            email,
            customer_id=customer_id,
            token=token,
            holders=holders,
            entries=entries,
            old_email=None,
        )

    def _create_listed(self, customer_id: str, record: dict[str, str], entries: Entries) -> None:
        """Write the index entries and the hash together, or else one after the other.

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
        adds = [(entry_key, ("ZADD", entry_key, 0, member)) for entry_key, member in entries]
        try:
            *_, created = self._writer.run_together(
                [*adds, (key, script_command(self._scripts.create, keys, flatten(record)))]
            )
        except NotTogether as failed:
            if failed.timeout is not None:
                # A node that does not answer in time will not answer a retry
                # sooner: answer now (503), without a hash that has no entry.
                if None in failed.replies[:-1] and failed.replies[-1] == 1:
                    self._undo_create(customer_id)
                raise failed.timeout from failed
            # The owners had their attempt: now the cluster client's way, which
            # follows redirections and waits out a failover.
            try:
                for entry_key, add in adds:
                    self._writer.run(entry_key, *add, direct=False)
            except Exception:
                if failed.replies[-1] != 0:  # the hash may be this request's
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
        self, customer_id: str, record: dict[str, str], entries: Entries, idempotency: Idempotency
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
        self._remove_entries(entries)  # a concurrent duplicate won
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
