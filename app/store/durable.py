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
from collections.abc import Callable
from typing import Any, cast

import redis
from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    MovedError,
    RedisClusterException,
    TimeoutError,
    TryAgainError,
)

from app.store.client import Client

_ATTEMPTS = 4
_BACKOFF_SECONDS = 0.25


class WriteNotDurable(Exception):
    """The write happened on the primary but too few replicas confirmed it in time."""

    def __init__(self, confirmed: int, wanted: int) -> None:
        super().__init__(f"{confirmed} of {wanted} replicas confirmed the write")


class DurableWriter:
    """Run write commands, then ``WAIT`` for replicas, on one connection."""

    def __init__(self, client: Client, replicas: int, timeout_ms: int) -> None:
        self._client = client
        self._replicas = replicas
        self._timeout_ms = timeout_ms

    def run_script(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Return the script's reply once enough replicas have its writes."""
        if self._replicas == 0:
            return script(keys=keys, args=args)
        return self._run(keys[0], lambda pipe: script(keys=keys, args=args, client=pipe))

    def run(self, key: str, command: Callable[[Any], Any]) -> Any:
        """Send one command on ``key``, ``command(client_or_pipeline)``; return its reply."""
        if self._replicas == 0:
            return command(self._client)
        return self._run(key, command)

    def run_each(self, commands: list[tuple[str, Callable[[Any], Any]]]) -> list[Any]:
        """Send one command per (key, command), in one round trip when no WAIT is asked for.

        Without ``DB_WAIT_REPLICAS`` the commands go down one pipeline (a
        cluster pipeline sends to every node before it reads a reply); with
        it each key's owner gets its command and its ``WAIT`` in turn.
        """
        if self._replicas == 0:
            pipe = self._client.pipeline(transaction=False)
            for _, command in commands:
                command(pipe)
            return cast(list[Any], pipe.execute())
        return [self._run(key, command) for key, command in commands]

    def _run(self, key: str, queue: Callable[[Pipeline], Any]) -> Any:
        asking: redis.Redis | None = None
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                pipe = (asking or self._owner(key)).pipeline(transaction=False)
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
                asking = self._node(error.host, error.port)
                continue
            except (MovedError, TryAgainError, ClusterDownError, ConnectionError, TimeoutError):
                # The slot moved, or a primary is failing over (the whole
                # cluster answers CLUSTERDOWN until a replica takes over):
                # re-read the slot map and retry, a bounded number of times.
                if attempt == _ATTEMPTS:
                    raise
                asking = None
                self._refresh_topology()
                time.sleep(_BACKOFF_SECONDS * attempt)
                continue
            if confirmed < self._replicas:
                raise WriteNotDurable(confirmed, self._replicas)
            return replies[1] if asking is not None else replies[0]
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _owner(self, key: str) -> redis.Redis:
        if isinstance(self._client, RedisCluster):
            node = self._client.get_node_from_key(key)
            if node.redis_connection is None:
                self._client.nodes_manager.initialize()
                node = self._client.get_node_from_key(key)
            return cast(redis.Redis, node.redis_connection)
        return self._client

    def _node(self, host: str, port: int) -> redis.Redis:
        assert isinstance(self._client, RedisCluster)
        node = self._client.get_node(host=host, port=port)
        if node is None or node.redis_connection is None:
            self._client.nodes_manager.initialize()
            node = self._client.get_node(host=host, port=port)
        if node is None or node.redis_connection is None:
            raise ClusterDownError(f"no connection to {host}:{port}")
        return cast(redis.Redis, node.redis_connection)

    def _refresh_topology(self) -> None:
        # If the map cannot be read now, the next attempt fails the same way
        # and that failure is the one reported.
        if isinstance(self._client, RedisCluster):
            with contextlib.suppress(ConnectionError, TimeoutError, RedisClusterException):
                self._client.nodes_manager.initialize()
