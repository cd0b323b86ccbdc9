"""The least privilege the service needs in Redis, as an ACL rule.

Each command is one the service sends (directly, through redis-py, or from
its Lua scripts), and each key pattern one the repository writes. The
integration suite runs the service as a user with exactly this rule, so a
command missing here fails the tests.
"""

from __future__ import annotations

KEY_PATTERNS = ("customer:*", "customers:*")
COMMANDS = (
    # customer hashes, in requests and in the Lua scripts
    "hgetall",
    "hset",
    "hdel",
    "hget",
    "hmget",
    "hsetnx",
    "exists",
    "del",
    # the idempotency records and the listing index
    "get",
    "set",
    "zadd",
    "zrem",
    "zrange",
    # change events: the outboxes and the feed (lua/outbox.lua, relay.lua,
    # read_events.lua), the relay's reads and trims, the sweep's lease
    "xadd",
    "xrange",
    "xrevrange",
    "xtrim",
    "xlen",
    # the scripts themselves (redis-py loads them on NOSCRIPT)
    "evalsha",
    "script|load",
    "script|exists",
    # DB_WAIT_REPLICAS, /readyz, cluster detection (INFO cluster)
    "wait",
    "ping",
    "info",
    # the cluster client's discovery of slots and command key positions
    "cluster|slots",
    "cluster|shards",
    "cluster|nodes",
    "command",
    # flask customers reindex and export
    "scan",
)


def access_string() -> str:
    """The rule's permissions: what MemoryDB calls an access string."""
    keys = " ".join(f"~{pattern}" for pattern in KEY_PATTERNS)
    commands = " ".join(f"+{command}" for command in COMMANDS)
    return f"on {keys} -@all {commands}"


def setuser_command(username: str, password: str) -> str:
    """``ACL SETUSER`` for a self-managed server (run it on every cluster node)."""
    return f"ACL SETUSER {username} reset {access_string()} >{password}"
