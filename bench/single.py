"""Requests one at a time: what a request costs on each side without queueing.

Under wrk's 32 connections every side is saturated, so its latency is about
connections / throughput and the p99 ratios repeat the req/s ratios. One
request at a time shows the latency a lightly loaded service adds, and, with
``DB_WAIT_REPLICAS=1``, what a durable write costs against the least it can:
the floor's one write and ``WAIT 1`` on the key owner's connection.
"""

from __future__ import annotations

from collections.abc import Callable

from bench import dataset, latency, servers
from bench.context import Bench
from bench.report import KINDS, ratio_text, section

PUT_BODY = b'{"balance": 0}'
PATCH_BODY = b'{"phone": "+1 555 0199"}'
POST_BODY = (
    b'{"name": "Bench Customer", "email": "bench.customer@example.com",'
    b' "phone": "+1 555 0100", "address": "1 Benchmark Road, Springfield", "balance": 1234.56}'
)
# Service p50 <= this x the floor's, one request at a time, DB_WAIT_REPLICAS=1 on every side.
# POST: the service writes the index entry and the hash (two slots), the floor one HSET.
DURABLE_OVER_FLOOR = {"POST": 1.25, "PUT": 1.15, "PATCH": 1.15, "DELETE": 1.15}
PASSES = 2  # alternating; the better of each side's passes counts

# What one side is asked: side name -> the requests of one pass.
Requests = Callable[[str], list[latency.Request]]


def best_of_passes(
    bench: Bench, sides: list[servers.Gunicorn], requests: Requests
) -> dict[str, latency.Latency]:
    """Each side's better pass (a burst of other work on the machine hits one, not both)."""
    runs: dict[str, list[latency.Latency]] = {server.name: [] for server in sides}
    for _ in range(PASSES):
        for server in sides:
            runs[server.name].append(
                latency.sequential(server.port, requests(server.name), bench.plan.sequential)
            )
    return {name: min(found, key=lambda measured: measured.median_ms) for name, found in runs.items()}


def unloaded_latency(bench: Bench, sides: list[servers.Gunicorn]) -> None:
    """GET by id, one at a time, on each side; p50 and p99 against the floor."""
    count = bench.plan.sequential
    section(f"Unloaded latency: GET by id, one request at a time ({count} per side, twice, alternating)")
    ids = [f"/customers/{i}" for i in dataset.random_ids(bench.client, count)]
    best = best_of_passes(bench, sides, lambda _name: list(ids))
    print_latencies(best)
    base = best[servers.FLOOR_NAME]
    for name, measured in best.items():
        if name == servers.FLOOR_NAME:
            continue
        for figure, ours, theirs in (
            ("p50", measured.median_ms, base.median_ms),
            ("p99", measured.p99_ms, base.p99_ms),
        ):
            bench.report.add(
                "Unloaded latency",
                f"GET by id, one at a time, {figure} {name} / floor",
                ratio_text(ours, theirs, " ms", 2),
            )


def durable_latency(bench: Bench) -> None:
    """POST, PUT, PATCH and DELETE one at a time with DB_WAIT_REPLICAS=1 on the service and both floors."""
    count = bench.plan.sequential
    section(
        f"Durable writes, DB_WAIT_REPLICAS=1: one request at a time ({count} per side, twice, alternating)"
    )
    names = {"service-wait": servers.SERVICE_APP, "floor-wait": servers.FLOOR_APP}
    names["flask-floor-wait"] = servers.FRAMEWORK_FLOOR_APP
    before = wait_calls(bench)
    try:
        sides = [bench.gunicorn(name, app, DB_WAIT_REPLICAS="1") for name, app in names.items()]
        measure_durable(bench, sides)
        # Every request of every side is one durable write at least: proof that they all WAITed.
        sent, wanted = wait_calls(bench) - before, len(sides) * 4 * PASSES * (latency.WARMUP + count)
        print(f"  WAIT calls on the primaries: {sent:,} for {wanted:,} write requests")
        if sent < wanted:
            bench.report.note(
                f"only {sent:,} WAIT calls for {wanted:,} durable writes: some side did not WAIT"
            )
    finally:
        servers.stop_all_named(set(names))
        bench.supply.clean(bench.client)


def measure_durable(bench: Bench, sides: list[servers.Gunicorn]) -> None:
    count = bench.plan.sequential
    paths = [f"/customers/{i}" for i in dataset.random_ids(bench.client, count)]
    for server in sides:
        size = latency.WARMUP + count
        bench.supply.add(bench.client, server.name, [size] * PASSES, indexed=server.name == "service-wait")

    def deletes(name: str) -> list[latency.Request]:
        return [("DELETE", f"/customers/{i}", None) for i in bench.supply.take_ids(name)]

    workloads: dict[str, Requests] = {
        "POST": lambda _name: [("POST", "/customers", POST_BODY)],
        "PUT": lambda _name: [("PUT", path, PUT_BODY) for path in paths],
        "PATCH": lambda _name: [("PATCH", path, PATCH_BODY) for path in paths],
        "DELETE": deletes,
    }
    for key, requests in workloads.items():
        print(f"  {key}:")
        best = best_of_passes(bench, sides, requests)
        print_latencies(best)
        service, floor, framework = (best[server.name] for server in sides)
        target = DURABLE_OVER_FLOOR[key]
        bench.report.add(
            "Durable writes",
            f"{key} one at a time, DB_WAIT_REPLICAS=1, p50 service / floor (its write + WAIT 1)",
            ratio_text(service.median_ms, floor.median_ms, " ms", 2),
            f"≤ {target:.2f}",
            service.median_ms <= target * floor.median_ms,
            kind=KINDS[2],
        )
        bench.report.add(
            "Durable writes",
            f"{key} one at a time, DB_WAIT_REPLICAS=1, p50 service / Flask-RESTful floor",
            ratio_text(service.median_ms, framework.median_ms, " ms", 2),
        )


def wait_calls(bench: Bench) -> int:
    """WAIT commands the cluster's nodes have run (INFO commandstats)."""
    total = 0
    for node in bench.cluster.nodes:
        with node.connection() as conn:
            total += int(conn.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))
    return total


def print_latencies(found: dict[str, latency.Latency]) -> None:
    for name, measured in found.items():
        print(
            f"    {name:16} median {measured.median_ms:6.2f} ms  p90 {measured.p90_ms:6.2f} ms"
            f"  p99 {measured.p99_ms:6.2f} ms"
        )
