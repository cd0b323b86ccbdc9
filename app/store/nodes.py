"""Commands sent straight to the primary that owns their key.

redis-py's cluster client spends about 50 µs of worker CPU per command
(finding the command's keys, the slot, the node, its retry loop) where a
plain client on the owner's connection pool spends about 25 µs. On the
request path a command therefore goes to the owner's pool directly, found in
the cluster client's own slot map. Anything that says the map is stale or
the node is unwell (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, a connection error, a
slot no node covers) sends the same command again through the cluster
client, whose handling of failover and resharding the fault tests prove: it
follows the redirection, re-reads the slot map, retries with backoff. Every
command here may be sent twice that way, as the cluster client itself
would; the scripts are written so that a second run is safe.

A timeout is the exception: the owner took the command and did not answer,
and would not answer a second attempt sooner. The slot map is re-read (a
failover may have moved the slot, and the next command should find out)
and the timeout raises, as ``ClusterClient`` does.

``send_together`` writes commands for several primaries before reading any
reply, so they overlap: two writes to two primaries cost one round trip.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    MovedError,
    RedisClusterException,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

from app.store.client import Client

# The errors after which the cluster client, not the owner's pool, sends the command.
REROUTE = (
    MovedError,
    AskError,
    TryAgainError,
    ClusterDownError,
    ConnectionError,
    TimeoutError,
    RedisClusterException,
)

Command = tuple[Any, ...]

_refreshing = threading.Lock()  # one slot-map re-read at a time in a process (``Nodes.refresh``)


class Nodes:
    """The owner of each key, and commands sent to it."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._cluster = client if isinstance(client, RedisCluster) else None

    def owner(self, key: str) -> redis.Redis:
        """The client of the primary that owns ``key`` (the one client, standalone)."""
        if self._cluster is None:
            return cast(redis.Redis, self._client)
        node = self._cluster.get_node_from_key(key)
        if node.redis_connection is None:  # a node the map has just learned of
            self._cluster.nodes_manager.initialize()
            node = self._cluster.get_node_from_key(key)
        return cast(redis.Redis, node.redis_connection)

    def node(self, host: str, port: int) -> redis.Redis:
        """The client of the node at ``host:port`` (an ASK target)."""
        assert self._cluster is not None
        found = self._cluster.get_node(host=host, port=port)
        if found is None or found.redis_connection is None:
            self._cluster.nodes_manager.initialize()
            found = self._cluster.get_node(host=host, port=port)
        if found is None or found.redis_connection is None:
            raise ClusterDownError(f"no connection to {host}:{port}")
        return cast(redis.Redis, found.redis_connection)

    def refresh(self) -> None:
        """Re-read the slot map; if it cannot be read now, the next command says so.

        If another thread of this process is re-reading it already, return
        at once: in a cluster that does not answer, a re-read costs a timeout
        per node (see ``ClusterClient``).
        """
        if self._cluster is None or not _refreshing.acquire(blocking=False):
            return
        try:
            with contextlib.suppress(ConnectionError, TimeoutError, RedisClusterException):
                self._cluster.nodes_manager.initialize()
        finally:
            _refreshing.release()

    def execute(self, key: str, *command: Any, direct: bool = True) -> Any:
        """Send one command on ``key`` to its owner; return its reply as redis-py parses it.

        ``direct=False``: through the cluster client from the start (after an
        attempt on the owner has already failed, a second one would only
        spend another timeout).
        """
        if self._cluster is None:
            return self._client.execute_command(*command)
        if direct:
            try:
                return self.owner(key).execute_command(*command)
            except TimeoutError:
                self.refresh()
                raise
            except REROUTE:
                pass
        return self._cluster.execute_command(*command)

    def script(self, script: Script, keys: list[str], args: list[Any], direct: bool = True) -> Any:
        """Run ``script`` on the owner of ``keys[0]`` (redis-py loads it on NOSCRIPT)."""
        if self._cluster is None:
            return script(keys=keys, args=args)
        if direct:
            try:
                return script(keys=keys, args=args, client=self.owner(keys[0]))
            except TimeoutError:
                self.refresh()
                raise
            except REROUTE:
                pass
        return script(keys=keys, args=args)


def script_command(script: Script, keys: list[str], args: list[Any]) -> Command:
    """``EVALSHA`` of ``script``, for ``send_together`` (which does not load scripts)."""
    return ("EVALSHA", script.sha, len(keys), *keys, *args)


def send_together(batches: Sequence[tuple[redis.Redis, Sequence[Command]]]) -> list[list[Any]]:
    """Send each batch down one connection of its node, every batch before any reply is read.

    Each batch is pipelined in order on its connection, and the batches are
    sent in the order given: if one cannot be sent, the later ones are not
    (and the error raises). The nodes then work on their batches at the
    same time. Returns each batch's replies, parsed as redis-py parses them,
    with an error reply in its place as its exception (``NoScriptError``
    included); a batch whose replies could not be read (a connection error,
    a timeout) has that exception in every place, and its connection is
    dropped, so no reply is ever left unread on a connection.
    """
    held: list[tuple[redis.Redis, Any]] = []
    try:
        for node, commands in batches:
            connection = node.connection_pool.get_connection()
            held.append((node, connection))
            connection.send_packed_command(connection.pack_commands(commands))
        return [
            _replies(node, connection, commands)
            for (node, connection), (_, commands) in zip(held, batches, strict=True)
        ]
    except BaseException:
        for _, connection in held:
            connection.disconnect()
        raise
    finally:
        for node, connection in held:
            node.connection_pool.release(connection)


def _replies(node: redis.Redis, connection: Any, commands: Sequence[Command]) -> list[Any]:
    replies: list[Any] = []
    try:
        for command in commands:
            try:
                replies.append(node.parse_response(connection, command[0]))
            except ResponseError as error:  # the next reply is still to be read
                replies.append(error)
    except (ConnectionError, TimeoutError) as error:
        connection.disconnect()
        return [error] * len(commands)
    return replies


def execute_many(nodes: Nodes, client: Client, commands: Sequence[tuple[str, Command]]) -> list[Any]:
    """Run commands on their keys' primaries, pipelined per primary, every primary at once.

    The same commands through a cluster pipeline cost about four times the
    Python. A command whose reply says the map is stale (or any other error)
    is sent again through the cluster client, which follows redirections, and
    raises as it would; so does every command if a primary cannot be reached.
    A timeout raises after the map is re-read, as in ``Nodes.execute``.
    """
    batches: dict[int, tuple[redis.Redis, list[int]]] = {}
    try:
        for position, (key, _) in enumerate(commands):
            owner = nodes.owner(key)
            batches.setdefault(id(owner), (owner, []))[1].append(position)
        answered = send_together(
            [(owner, [commands[i][1] for i in positions]) for owner, positions in batches.values()]
        )
    except TimeoutError:
        nodes.refresh()  # and no second attempt (see the module's docstring)
        raise
    except REROUTE:
        return [client.execute_command(*command) for _, command in commands]
    timeout = next((r for batch in answered for r in batch if isinstance(r, TimeoutError)), None)
    if timeout is not None:
        nodes.refresh()
        raise timeout
    replies: list[Any] = [None] * len(commands)
    for (_, positions), batch in zip(batches.values(), answered, strict=True):
        for position, reply in zip(positions, batch, strict=True):
            replies[position] = (
                client.execute_command(*commands[position][1]) if isinstance(reply, Exception) else reply
            )
    return replies
