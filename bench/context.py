"""What one benchmark run works with: its plan, its cluster and data, its servers.

``Bench`` holds the 6-node cluster (in a temporary directory), the Redis
client, the file of customer ids that wrk's scripts read, each side's supply
of customers to delete, and the report; it starts gunicorn masters and runs
wrk against them, alternating between sides.
"""

from __future__ import annotations

import argparse
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from redis.cluster import RedisCluster

from bench import connections, dataset, servers
from bench.loadgen import THREADS, WrkResult, run_wrk
from bench.report import Report, rate_text
from bench.supply import Supply
from tests.support.redis_servers import LocalCluster

# AOF stays on, as in the tests, but is never rewritten: a rewrite forks
# every node in the middle of a measurement on a 2-core machine.
CLUSTER_CONFIG = {"auto-aof-rewrite-percentage": "0"}
IDLE_TIMEOUT = 10.0  # a side still serving this long after a wrk run is restarted instead


@dataclass(frozen=True)
class Plan:
    """How long and how big: the full run, or a quick one for development."""

    seconds: float  # per wrk run
    rounds: int  # alternating runs per side
    # Metrics: a 5 % difference is below this shared machine's noise, which
    # comes in bursts of seconds; many short rounds in A-B-B-A order beat it.
    metrics_rounds: int
    metrics_seconds: float
    small: int  # customers at the start (growth baseline)
    large: int  # customers for the growth comparison
    sequential: int  # single requests per latency figure
    seed_hashes: int  # bare seed-format hashes written for the memory comparison
    workers: int
    gunicorn_args: tuple[str, ...]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        quick = args.quick
        return cls(
            seconds=3 if quick else 10,
            rounds=2 if quick else 3,
            metrics_rounds=4 if quick else 10,
            metrics_seconds=3 if quick else 4,
            small=10_000,
            large=100_000 if quick else 1_000_000,
            sequential=200 if quick else 400,
            seed_hashes=100_000,
            workers=args.workers,
            gunicorn_args=tuple(shlex.split(args.gunicorn_args)),
        )


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    script: str
    # Which customers the requests name: "" none, "existing" the starting set
    # round-robin, "consumed" a fresh slice of the side's own supply per run.
    ids: str = ""
    sample: bool = True  # the sample serves it too
    timeout: float = 5  # wrk counts slower requests as errors, not in the latency figures
    min_seconds: float = 0  # runs last at least this long, also in a quick run


# The listing first, at exactly the starting set (the sample scans the whole
# keyspace); POST last, since it adds customers that every side sees.
WORKLOADS = (
    # The sample reads 10,000 hashes a request: 1 s alone, about 3 s with 4 workers on 2 cores,
    # so a run must be long enough for several rounds of its 4 workers, and waits are long.
    Workload("LIST", "GET /customers?limit=100", "list.lua", timeout=120, min_seconds=10),
    Workload("GET", "GET /customers/<id>", "get.lua", ids="existing"),
    Workload("PUT", "PUT /customers/<id>", "put.lua", ids="existing"),
    Workload("PATCH", "PATCH /customers/<id>", "patch.lua", ids="existing", sample=False),
    Workload("DELETE", "DELETE /customers/<id>", "delete.lua", ids="consumed"),
    Workload("POST", "POST /customers", "post.lua"),
)
GET = WORKLOADS[1]


class Bench:
    """The cluster, the data and the servers of one run, and what was measured."""

    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.cluster = LocalCluster(workdir / "cluster", extra_config=CLUSTER_CONFIG)
        self.report = Report()
        self.ids_file = workdir / "ids.txt"
        self._client: RedisCluster | None = None
        self.supply = Supply(workdir)
        self.settings_text = ""  # how the sides run, for the results page

    @property
    def client(self) -> RedisCluster:
        """A cluster client for loading and inspecting data (not the servers')."""
        if self._client is None:
            self._client = self.cluster.client()
        return self._client

    @property
    def database(self) -> tuple[str, int]:
        return ("127.0.0.1", self.cluster.ports[0])

    def start_cluster(self) -> None:
        began = time.perf_counter()
        self.cluster.start()
        print(f"  cluster ready in {time.perf_counter() - began:.1f} s (ports {self.cluster.ports})")

    def redis_version(self) -> str:
        with self.cluster.nodes[0].connection() as conn:
            return conn.info("server")["redis_version"]

    def gunicorn(
        self, name: str, app: str, extra_args: tuple[str, ...] = (), ready_path: str = "/healthz", **env: str
    ) -> servers.Gunicorn:
        """Start a gunicorn master with the repository's gunicorn.conf.py."""
        workers = self.plan.workers
        args = (*self.plan.gunicorn_args, *extra_args)
        return servers.Gunicorn(
            name,
            app,
            database=self.database,
            log_dir=self.workdir,
            workers=workers,
            extra_args=args,
            extra_env=env,
            ready_path=ready_path,
        ).start()

    def sample(self, name: str = servers.SAMPLE_NAME) -> servers.Gunicorn:
        """The sample, same settings; its prints go to its gunicorn log (a file in the run's directory)."""
        return self.gunicorn(
            name, servers.SAMPLE_APP, ready_path=servers.SAMPLE_READY_PATH, PYTHONUNBUFFERED="1"
        )

    def load_small(self) -> None:
        """The starting set, and a file of its ids for wrk's GET, PUT and PATCH scripts."""
        rate = dataset.load(self.client, 0, self.plan.small, "loading")
        print(f"  loaded {self.plan.small:,} customers ({rate:,.0f}/s)")
        ids = [c.id for c in dataset.make_customers(0, self.plan.small)]
        self.ids_file.write_text("\n".join(ids) + "\n")

    def wrk(self, server: servers.Gunicorn, workload: Workload, seconds: float) -> WrkResult:
        """One wrk run; then wait until the side has served what wrk left queued."""
        script_args: tuple[str, ...] = ()
        if workload.ids == "existing":
            script_args = (str(self.ids_file),)
        elif workload.ids == "consumed":
            script_args = (str(self.supply.take(server.name)), str(THREADS))
        result = run_wrk(
            f"http://127.0.0.1:{server.port}", workload.script, seconds, script_args, workload.timeout
        )
        if not server.alive():  # figures from a dead side would pass for a slow one
            raise RuntimeError(
                f"{server.name}: gunicorn died during a {workload.key} run:\n{server.log_tail()}"
            )
        if not connections.wait_closed(server.port, IDLE_TIMEOUT):
            # Requests wrk left queued (the sample's listing: seconds each); restarting
            # drops them in seconds where serving them would take a minute.
            print(f"    ({server.name} still busy {IDLE_TIMEOUT:g} s after the run: restarted)")
            server.restart()
        return result

    def alternate(
        self,
        sides: list[servers.Gunicorn],
        workload: Workload,
        rounds: int | None = None,
        seconds: float | None = None,
        rotate: bool = False,
    ) -> dict[str, list[WrkResult]]:
        """Warm each side up, then run them in turn, ``rounds`` times; every run per side.

        ``rotate`` starts each round one side further on (for two sides:
        A-B, B-A, A-B, ...), so a drift in the machine's load favours no side.
        """
        for server in sides:
            self.wrk(server, workload, 1)
        results: dict[str, list[WrkResult]] = {server.name: [] for server in sides}
        for number in range(1, (rounds or self.plan.rounds) + 1):
            shift = (number - 1) % len(sides) if rotate else 0
            order = sides[shift:] + sides[:shift]
            for server in order:
                result = self.wrk(server, workload, max(seconds or self.plan.seconds, workload.min_seconds))
                results[server.name].append(result)
                flag = f"  FLAGGED: {result.problem}" if result.problem else ""
                print(
                    f"    {workload.key:6} {server.name:14} round {number}: {rate_text(result.rps):>8} req/s"
                    f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
                    f"  max {result.max_ms:8.2f} ms{flag}",
                    flush=True,
                )
        return results
