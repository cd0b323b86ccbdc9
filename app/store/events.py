"""The change feed: relay outbox entries into ``customers:events``, read it, sweep.

Every change script adds its event to the outbox of the customer's slot, in
the same script as the change (lua/outbox.lua), so a change and its event
exist together or not at all. Relaying copies outbox entries into the one
feed stream and then trims the outbox:

1. read each outbox (XRANGE, pipelined): a prefix of it, in id order;
2. one script on the feed's slot (lua/relay.lua) appends, in order, only the
   entries after that outbox's mark, moves the mark, and trims the feed to
   its retention: a second relay of the same entries appends nothing;
3. with ``DB_WAIT_REPLICAS``, WAIT for the feed's replicas, then let readers
   see the new entries (``durable``): a reader never sees an entry a
   failover could take away;
4. trim each outbox up to what was relayed (XTRIM MINID).

A crash between any two steps leaves entries that the next relay of that
outbox (the process's own, or the sweep's) skips or appends, never twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from app.customers.model import EventPage, EventsExpired, StoredEvent
from app.store.client import Client
from app.store.cursors import decode_event_cursor, encode_event_cursor
from app.store.durable import DurableWriter
from app.store.keys import FEED_KEY, MARKS_KEY, outbox_keys
from app.store.nodes import Nodes, execute_many
from app.store.scripts import Scripts

# Outbox entries read per outbox per relay step, and outboxes per step.
ENTRIES_PER_OUTBOX = 200
OUTBOXES_PER_STEP = 200


class EventFeed:
    """Relay, read and sweep the feed."""

    def __init__(
        self,
        client: Client,
        writer: DurableWriter,
        scripts: Scripts,
        *,
        retention_hours: float,
        clock: Callable[[], datetime],
        wait_replicas: int,
    ) -> None:
        self._client = client
        self._nodes = Nodes(client)
        self._writer = writer
        self._scripts = scripts
        self._retention_ms = int(retention_hours * 3600 * 1000)
        self._clock = clock
        self._waits = wait_replicas > 0

    def relay(self, outboxes: list[str]) -> list[str]:
        """Move the entries of these outboxes into the feed; return those that may hold more."""
        batches = execute_many(
            self._nodes,
            self._client,
            [(key, ("XRANGE", key, "-", "+", "COUNT", ENTRIES_PER_OUTBOX)) for key in outboxes],
        )
        args: list[Any] = []
        relayed: list[tuple[str, str]] = []
        count = 0
        for key, entries in zip(outboxes, batches, strict=True):
            if not entries:
                continue
            count += 1
            args += [key, _slot_of(key), len(entries)]
            for entry_id, values in entries:
                args += [entry_id, values["type"], values["customer"], values["fields"]]
            relayed.append((key, entries[-1][0]))
        self._run(count, args)
        if relayed:
            execute_many(
                self._nodes,
                self._client,
                [(key, ("XTRIM", key, "MINID", _next_id(last_id))) for key, last_id in relayed],
            )
        return [
            key for key, entries in zip(outboxes, batches, strict=True) if len(entries) == ENTRIES_PER_OUTBOX
        ]

    def trim(self) -> None:
        """Apply retention to the feed (and, with WAIT, let readers see what replicas have)."""
        self._run(0, [])

    def pending_outboxes(self) -> list[str]:
        """Every outbox key that holds entries (or could not be checked): one XLEN per slot.

        Pipelined on each primary's own connection, grouped by the slot map:
        a cluster pipeline costs about four times as much Python per command.
        A key whose slot has just moved answers an error and counts as
        pending, so the relay (which follows MOVED and ASK) looks at it.
        """
        keys = outbox_keys()
        groups: dict[int, tuple[redis.Redis, list[str]]] = {}
        for slot, key in enumerate(keys):
            node = self._node_of(slot)
            groups.setdefault(id(node), (node, []))[1].append(key)
        found = []
        for node, chunk in groups.values():
            pipe = node.pipeline(transaction=False)
            for key in chunk:
                pipe.xlen(key)
            replies = pipe.execute(raise_on_error=False)
            found += [key for key, length in zip(chunk, replies, strict=True) if length]
        return found

    def _node_of(self, slot: int) -> redis.Redis:
        if not isinstance(self._client, RedisCluster):
            return self._client
        node = self._client.nodes_manager.get_node_from_slot(slot)
        return self._client.get_redis_connection(node)

    def read(self, limit: int, cursor: str | None) -> EventPage:
        """Up to ``limit`` events after ``cursor`` (None: from the oldest kept)."""
        after = decode_event_cursor(cursor) if cursor else None
        reply = self._scripts.read_events(keys=[FEED_KEY, MARKS_KEY], args=[after or "", limit])
        if reply[0] == "gone":
            raise EventsExpired(after)
        events = [_event(entry_id, values) for entry_id, values in reply[1]]
        return EventPage(events, encode_event_cursor(events[-1].position if events else (after or "0-0")))

    def _run(self, count: int, args: list[Any]) -> None:
        cutoff = max(0, int(self._clock().timestamp() * 1000) - self._retention_ms)
        keys = [FEED_KEY, MARKS_KEY]
        visible = "" if self._waits else "+"
        _, last = self._writer.run_script(self._scripts.relay, keys, [cutoff, visible, count, *args])
        if self._waits and last:
            # The WAIT above confirmed every entry up to ``last``: readers may see them.
            self._writer.run_script(self._scripts.relay, keys, [0, last, 0])


def _event(entry_id: str, flat: list[str]) -> StoredEvent:
    values = dict(zip(flat[::2], flat[1::2], strict=True))
    return StoredEvent(
        position=entry_id,
        id=values["id"],
        type=values["type"],
        customer_id=values["customer"],
        at_ms=int(values["at"]),
        fields=json.loads(values["fields"]),
    )


def _slot_of(outbox: str) -> str:
    return str(key_slot(outbox.encode()))


def _next_id(entry_id: str) -> str:
    """The smallest stream id after ``entry_id``: XTRIM MINID keeps it and what follows."""
    ms, seq = entry_id.split("-")
    return f"{ms}-{int(seq) + 1}"
