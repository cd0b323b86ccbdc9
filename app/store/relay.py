"""The relay thread of a worker process: moves its own writes' events into the feed.

After each change the repository names the outbox it wrote to
(``notify``); this thread waits a moment so that many writes share one
relay step (three round trips for up to ``OUTBOXES_PER_STEP`` outboxes), then
relays them (app/store/events.py). Every few seconds one process in the
whole deployment, the holder of a short lease, also sweeps: it finds every
outbox that still holds entries (a process killed between its write and its
relay leaves some) and relays them, and applies retention to the feed even
when nothing is written. Relaying twice is harmless, so nothing here needs
to be exact: a failed step is simply tried again.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from redis.exceptions import RedisClusterException, RedisError

from app.store.client import Client
from app.store.durable import WriteNotDurable
from app.store.events import OUTBOXES_PER_STEP, EventFeed
from app.store.keys import SWEEP_LEASE_KEY

log = logging.getLogger(__name__)

# How long a step waits for more writes to join it: each step costs a relay.lua
# call and a pipeline per primary whatever it carries. Under POST load with
# 4 workers, events cost 13-30 % of throughput at 0.05 s, 0-8 % at 0.2 s
# (docs/events.md); an event reaches the feed about 0.2 s after its write.
BATCH_DELAY_SECONDS = 0.2
SWEEP_SECONDS = 10.0
# After a failed step the thread waits, doubling the wait while steps keep
# failing: in a cluster that does not answer, every step re-reads the slot
# map (a timeout per node), and requests needing that map wait their turn.
_RETRY_SECONDS = 0.5
_RETRY_SECONDS_MAX = 8.0


class Relayer:
    """A daemon thread relaying the outboxes this process wrote to, and sweeping."""

    def __init__(self, client: Client, feed: EventFeed, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self._client = client
        self._feed = feed
        self._sweep_seconds = sweep_seconds
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner = f"{os.getpid()}-{os.urandom(4).hex()}"

    def start(self) -> None:
        """Start the thread (once per process: call it after gunicorn forks)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="events-relay", daemon=True)
            self._thread.start()

    def notify(self, outbox: str) -> None:
        """An entry was added to ``outbox``: relay it shortly."""
        with self._lock:
            self._pending.add(outbox)
        self._wake.set()

    def _run(self) -> None:
        next_sweep = time.monotonic() + self._sweep_seconds
        retry_seconds = _RETRY_SECONDS
        while True:
            self._wake.wait(max(0.0, next_sweep - time.monotonic()))
            time.sleep(BATCH_DELAY_SECONDS)  # let more writes join this step
            self._wake.clear()
            with self._lock:
                pending, self._pending = self._pending, set()
            try:
                self._relay(sorted(pending))
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self._sweep_seconds
                    self._sweep()
                retry_seconds = _RETRY_SECONDS
            except (RedisError, RedisClusterException, WriteNotDurable) as error:
                # Redis is failing over or unreachable (redis-py says "cannot
                # be connected" with a RedisClusterException, not a
                # RedisError): the entries stay in their outboxes, and this
                # process tries them again.
                log.warning("relaying events failed, retrying: %s: %s", type(error).__name__, error)
                retry_seconds = self._retry_later(pending, retry_seconds)
            except Exception:
                # A defect: logged in full, and the thread lives on, since a
                # relay that has died relays nothing ever again.
                log.exception("relaying events failed unexpectedly, retrying")
                retry_seconds = self._retry_later(pending, retry_seconds)

    def _retry_later(self, pending: set[str], seconds: float) -> float:
        """Keep ``pending`` for the next step, in ``seconds``; return the wait after that."""
        with self._lock:
            self._pending |= pending
        time.sleep(seconds)
        self._wake.set()
        return min(seconds * 2, _RETRY_SECONDS_MAX)

    def _relay(self, outboxes: list[str]) -> None:
        for start in range(0, len(outboxes), OUTBOXES_PER_STEP):
            more = self._feed.relay(outboxes[start : start + OUTBOXES_PER_STEP])
            if more:
                with self._lock:
                    self._pending.update(more)
                self._wake.set()

    def _sweep(self) -> None:
        lease_ms = int(self._sweep_seconds * 1000)
        if not self._client.set(SWEEP_LEASE_KEY, self._owner, nx=True, px=lease_ms):
            return
        self._relay(self._feed.pending_outboxes())
        self._feed.trim()
