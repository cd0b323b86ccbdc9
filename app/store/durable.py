"""Writes acknowledged only once replicas have them (``DB_WAIT_REPLICAS``).

A plain Redis Cluster replicates asynchronously: a primary that dies right
after acknowledging a write can take it along. ``WAIT n timeout`` blocks until
``n`` replicas have everything *this connection* wrote, so it must go to the
primary that owns the key, on the same connection as the write. redis-py's
cluster client would send a bare ``WAIT`` to some default node and add up the
replies of several nodes, which proves nothing. So the write and the ``WAIT``
go down one pipeline on the owner's own connection pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    MovedError,
    TimeoutError,
    TryAgainError,
)

from app.store.client import Client
from app.store.nodes import REROUTE, Command, Nodes, send_together

_ATTEMPTS = 4
_BACKOFF_SECONDS = 0.25


class WriteNotDurable(Exception):
    """The write happened on the primary but too few replicas confirmed it in time."""

    def __init__(self, confirmed: int, wanted: int) -> None:
        super().__init__(f"{confirmed} of {wanted} replicas confirmed the write")


class NotTogether(Exception):
    """Writes sent together did not all succeed (and, with replicas, become durable).

    ``replies`` has each write's reply where one was read, else None;
    ``timeout`` is the timeout one of the nodes ran into, if any.
    """

    def __init__(self, reason: str, replies: list[Any], timeout: TimeoutError | None = None) -> None:
        super().__init__(reason)
        self.replies = replies
        self.timeout = timeout


class DurableWriter:
    """Run write commands, then ``WAIT`` for replicas, on the key owner's connection."""

    def __init__(self, client: Client, replicas: int, timeout_ms: int) -> None:
        self._nodes = Nodes(client)
        self._replicas = replicas
        self._timeout_ms = timeout_ms

    def run_script(self, script: Script, keys: list[str], args: list[Any], direct: bool = True) -> Any:
        """Return the script's reply once enough replicas have its writes (see ``Nodes.script``)."""
        if self._replicas == 0:
            return self._nodes.script(script, keys, args, direct=direct)
        return self._run(keys[0], lambda pipe: script(keys=keys, args=args, client=pipe))

    def run(self, key: str, *command: Any, direct: bool = True) -> Any:
        """Send one command on ``key``; return its reply (see ``Nodes.execute``)."""
        if self._replicas == 0:
            return self._nodes.execute(key, *command, direct=direct)
        return self._run(key, lambda pipe: pipe.execute_command(*command))

    def run_together(self, writes: list[tuple[str, Command]]) -> list[Any]:
        """Send commands on several keys at once, each to its key's owner; return their replies.

        Commands for one owner go down one connection in the order given,
        then ``WAIT`` there; each owner gets its batch before any reply is
        read. Raise ``NotTogether`` unless every command succeeded (and was
        confirmed by enough replicas): the caller then does the writes one
        at a time, the way that handles redirections and failover.
        """
        batches: dict[int, tuple[redis.Redis, list[int]]] = {}
        wait = ("WAIT", self._replicas, self._timeout_ms)
        try:
            for position, (key, _) in enumerate(writes):
                owner = self._nodes.owner(key)
                batches.setdefault(id(owner), (owner, []))[1].append(position)
            answered = send_together(
                [
                    (owner, [writes[i][1] for i in positions] + ([wait] if self._replicas else []))
                    for owner, positions in batches.values()
                ]
            )
        except REROUTE as error:
            timeout = error if isinstance(error, TimeoutError) else None
            if timeout is not None:
                self._nodes.refresh()
            raise NotTogether(str(error), [None] * len(writes), timeout) from error
        replies: list[Any] = [None] * len(writes)
        failures: list[str] = []
        timeout = None
        for (_, positions), batch in zip(batches.values(), answered, strict=True):
            for position, reply in zip(positions, batch, strict=False):
                replies[position] = None if isinstance(reply, Exception) else reply
                if isinstance(reply, Exception):
                    failures.append(str(reply))
                if isinstance(reply, TimeoutError):
                    timeout = reply
            if self._replicas and (isinstance(batch[-1], Exception) or batch[-1] < self._replicas):
                failures.append(f"{batch[-1]} of {self._replicas} replicas confirmed")
        if timeout is not None:
            self._nodes.refresh()  # see ``Nodes``: the next write finds a failover
        if failures:
            raise NotTogether("; ".join(failures), replies, timeout)
        return replies

    def run_each(self, commands: list[tuple[str, Command]]) -> list[Any]:
        """Send one command per (key, command) at once (``run_together``), else one at a time."""
        try:
            return self.run_together(commands)
        except NotTogether as failed:
            if failed.timeout is not None:
                raise failed.timeout from failed
            return [self.run(key, *command, direct=False) for key, command in commands]

    def _run(self, key: str, queue: Callable[[Pipeline], Any]) -> Any:
        asking: redis.Redis | None = None
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                pipe = (asking or self._nodes.owner(key)).pipeline(transaction=False)
                if asking is not None:
                    pipe.execute_command("ASKING")  # applies to the one next command
                queue(pipe)
                pipe.wait(self._replicas, self._timeout_ms)
                *replies, confirmed = pipe.execute()
            except AskError as error:
                # The slot is migrating and this key already moved: ask the
                # target node, as the cluster protocol says.
                if attempt == _ATTEMPTS:
                    raise
                asking = self._nodes.node(error.host, error.port)
                continue
            except TimeoutError:
                # The owner did not answer: a retry would not be answered
                # sooner (see ``Nodes``). The next write uses a fresh map.
                self._nodes.refresh()
                raise
            except (MovedError, TryAgainError, ClusterDownError, ConnectionError):
                # The slot moved, or a primary is failing over (the whole
                # cluster answers CLUSTERDOWN until a replica takes over):
                # re-read the slot map and retry, a bounded number of times.
                if attempt == _ATTEMPTS:
                    raise
                asking = None
                self._nodes.refresh()
                time.sleep(_BACKOFF_SECONDS * attempt)
                continue
            if confirmed < self._replicas:
                raise WriteNotDurable(confirmed, self._replicas)
            return replies[1] if asking is not None else replies[0]
        raise AssertionError("unreachable: the last attempt returns or raises")
