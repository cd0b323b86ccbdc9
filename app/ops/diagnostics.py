"""``flask customers check-config``: can this service work with this database?

Connects with the service's own settings, then reports the topology (every
slot covered?), TLS, and whether the user may run every command in
``app.ops.acl.COMMANDS``, by running each one on scratch keys of its own
namespace, which it deletes again. Only a NOPERM answer counts against a
command: the server checks permissions before anything else.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.cluster import RedisCluster
from redis.exceptions import NoPermissionError, ResponseError

from app.ops import acl
from app.store.client import Client
from app.store.keys import SCRATCH_PREFIX

CLUSTER_SLOTS = 16384


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def topology(client: Client, report: Report) -> None:
    """Primaries, replicas and slot coverage (cluster) or role (standalone)."""
    if isinstance(client, RedisCluster):
        shards = client.cluster_shards()
        primaries = covered = 0
        replicas = {"online": 0, "loading": 0}
        for shard in shards:
            slots = shard["slots"]
            covered += sum(end - start + 1 for start, end in zip(slots[::2], slots[1::2], strict=True))
            for node in shard["nodes"]:
                if node["role"] == "master":
                    primaries += 1
                elif node["health"] in replicas:
                    replicas[node["health"]] += 1
        # "loading": connected, but its primary has no replication offset from
        # it yet (always so on a cluster nothing was written to): not a fault.
        loading = f", {replicas['loading']} still loading" if replicas["loading"] else ""
        total = sum(replicas.values())
        report.lines.append(
            f"cluster: {primaries} primaries, {total} replicas ({replicas['online']} online{loading})"
        )
        report.lines.append(f"slots covered: {covered}/{CLUSTER_SLOTS}")
        if covered < CLUSTER_SLOTS:
            report.problems.append(f"only {covered} of {CLUSTER_SLOTS} slots are covered")
        return
    info = client.info("replication")
    report.lines.append(
        f"standalone: role {info['role']}, {info.get('connected_slaves', 0)} replicas connected"
    )


def permissions(client: Client, report: Report) -> None:
    """Try every command the service needs; report the ones refused."""
    scratch = f"{SCRATCH_PREFIX}{uuid.uuid4()}"
    denied = [name for name, probe in _probes(client, scratch).items() if not _allowed(probe)]
    for key in (scratch, f"{scratch}:s", f"{scratch}:z", f"{scratch}:x"):
        with contextlib.suppress(NoPermissionError):  # already reported as a refused "del"
            client.delete(key)
    report.lines.append(
        f"permissions: {len(acl.COMMANDS) - len(denied)}/{len(acl.COMMANDS)} commands allowed"
    )
    if denied:
        report.problems.append(f"the database user may not run: {', '.join(denied)} (see docs/security.md)")


def _allowed(probe: Callable[[], Any]) -> bool:
    try:
        probe()
    except NoPermissionError:
        return False
    except ResponseError:
        pass  # e.g. CLUSTER on a standalone server: permitted, just not applicable
    return True


def _probes(client: Client, scratch: str) -> dict[str, Callable[[], Any]]:
    hashed, text, zset, stream = scratch, f"{scratch}:s", f"{scratch}:z", f"{scratch}:x"
    script = "return redis.call('EXISTS', KEYS[1])"

    def on_owner(*command: Any) -> Any:
        if isinstance(client, RedisCluster):
            return client.execute_command(*command, target_nodes=client.get_node_from_key(hashed))
        return client.execute_command(*command)

    def sha() -> str:
        return str(on_owner("SCRIPT", "LOAD", script))

    probes: dict[str, Callable[[], Any]] = {
        "hset": lambda: client.hset(hashed, "probe", "1"),
        "hget": lambda: client.hget(hashed, "probe"),
        "hmget": lambda: client.hmget(hashed, ["probe"]),
        "hgetall": lambda: client.hgetall(hashed),
        "hsetnx": lambda: client.hsetnx(hashed, "probe", "2"),
        "hdel": lambda: client.hdel(hashed, "probe"),
        "exists": lambda: client.exists(hashed),
        "set": lambda: client.set(text, "1", px=60_000),
        "get": lambda: client.get(text),
        "zadd": lambda: client.zadd(zset, {"probe": 0}),
        "zrange": lambda: client.zrange(zset, "-", "+", bylex=True, offset=0, num=1),
        "zrem": lambda: client.zrem(zset, "probe"),
        "xadd": lambda: client.xadd(stream, {"probe": "1"}),
        "xrange": lambda: client.xrange(stream, count=1),
        "xrevrange": lambda: client.xrevrange(stream, count=1),
        "xlen": lambda: client.xlen(stream),
        "xtrim": lambda: client.xtrim(stream, minid="0-1", approximate=False),
        "script|load": sha,
        "script|exists": lambda: on_owner("SCRIPT", "EXISTS", "0" * 40),
        "evalsha": lambda: client.evalsha(sha(), 1, hashed),
        "wait": lambda: on_owner("WAIT", 0, 0),
        "ping": client.ping,
        "info": lambda: client.info("server"),
        "cluster|slots": lambda: on_owner("CLUSTER", "SLOTS"),
        "cluster|shards": lambda: on_owner("CLUSTER", "SHARDS"),
        "cluster|nodes": lambda: on_owner("CLUSTER", "NODES"),
        "command": lambda: on_owner("COMMAND COUNT"),
        "scan": lambda: on_owner("SCAN", 0, "MATCH", f"{SCRATCH_PREFIX}*", "COUNT", 1),
        "del": lambda: client.delete(hashed),
    }
    missing = set(acl.COMMANDS) - probes.keys()
    if missing:
        raise AssertionError(f"no probe for {sorted(missing)}")
    return probes
