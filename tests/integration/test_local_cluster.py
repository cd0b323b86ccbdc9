"""scripts/cluster: the local cluster the README tells a person to start."""

from __future__ import annotations

import random
import socket
import subprocess
from pathlib import Path

import redis
from redis.cluster import ClusterNode, RedisCluster

from tests.support.service import REPO


def free_base_port() -> int:
    """A first port such that six ports and their cluster bus ports (+10000) are free."""
    for _ in range(100):
        base = random.randrange(20000, 30000)
        try:
            for port in [*range(base, base + 6), *range(base + 10000, base + 10006)]:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no six free ports in a row")


def cluster(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REPO / "scripts" / "cluster", *args], capture_output=True, text=True, timeout=90, check=False
    )


def running(pid: int) -> bool:
    """Alive and not a zombie (the script's nodes are not our children: init reaps them)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() != b""
    except OSError:
        return False


def test_start_prints_the_env_line_restarts_with_its_data_and_stop_ends_each_process(tmp_path):
    port = free_base_port()
    directory = str(tmp_path / "cluster")
    try:
        started = cluster("start", "--port", str(port), "--dir", directory)
        assert started.returncode == 0, started.stderr
        assert f"DBHOST=127.0.0.1 DBPORT={port} DBTLS=false scripts/serve" in started.stdout.splitlines()
        pids = [int(line.split()[0]) for line in (tmp_path / "cluster" / "pids").read_text().splitlines()]
        assert len(pids) == 6
        assert all(map(running, pids)), "the nodes outlive the script"
        with redis.Redis(port=port + 3, decode_responses=True) as node:
            info = node.execute_command("CLUSTER", "INFO")
        assert "cluster_state:ok" in info
        assert "cluster_slots_ok:16384" in info
        assert "cluster_known_nodes:6" in info
        with RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port)], decode_responses=True) as client:
            client.set("kept", "yes")

        stopped = cluster("stop", "--dir", directory)
        assert stopped.returncode == 0, stopped.stderr
        assert not any(map(running, pids))

        again = cluster("start", "--port", str(port), "--dir", directory)
        assert again.returncode == 0, again.stderr
        with RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port)], decode_responses=True) as client:
            assert client.get("kept") == "yes"
    finally:
        cluster("stop", "--dir", directory)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "nothing listens once stopped"
