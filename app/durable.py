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

import contextlib
import time
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import (
    AskError,
    ConnectionError,
    MovedError,
    RedisClusterException,
    TimeoutError,
    TryAgainError,
)

from app.redis_client import Client

_ATTEMPTS = 4
_BACKOFF_SECONDS = 0.25


class WriteNotDurable(Exception):
    """The write happened on the primary but too few replicas confirmed it in time."""

    def __init__(self, confirmed: int, wanted: int) -> None:
        super().__init__(f"{confirmed} of {wanted} replicas confirmed the write")


class DurableWriter:
    """Run a write script, then ``WAIT`` for replicas, on one connection."""

    def __init__(self, client: Client, replicas: int, timeout_ms: int) -> None:
        self._client = client
        self._replicas = replicas
        self._timeout_ms = timeout_ms

    def run(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Return the script's reply once ``replicas`` replicas have the write."""
        if self._replicas == 0:
            return script(keys=keys, args=args)
        attempt = 1
        while True:
            try:
                pipe = self._owner(keys[0]).pipeline(transaction=False)
                script(keys=keys, args=args, client=pipe)
                pipe.wait(self._replicas, self._timeout_ms)
                reply, confirmed = pipe.execute()
                break
            except (MovedError, AskError, TryAgainError, ConnectionError, TimeoutError):
                # The slot moved or its primary is failing over: re-read the
                # slot map and try the new owner, a bounded number of times.
                if attempt == _ATTEMPTS:
                    raise
                self._refresh_topology()
                time.sleep(_BACKOFF_SECONDS * attempt)
                attempt += 1
        if confirmed < self._replicas:
            raise WriteNotDurable(confirmed, self._replicas)
        return reply

    def _owner(self, key: str) -> redis.Redis:
        if isinstance(self._client, RedisCluster):
            node = self._client.get_node_from_key(key)
            if node.redis_connection is None:
                self._client.nodes_manager.initialize()
                node = self._client.get_node_from_key(key)
            return node.redis_connection
        return self._client

    def _refresh_topology(self) -> None:
        # If the map cannot be read now, the next attempt fails the same way
        # and that failure is the one reported.
        if isinstance(self._client, RedisCluster):
            with contextlib.suppress(ConnectionError, TimeoutError, RedisClusterException):
                self._client.nodes_manager.initialize()
