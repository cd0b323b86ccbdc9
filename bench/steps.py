"""The measurements of a full run, one function each (run.py says in which order).

Each prints what it measured and adds its figures, with their targets, to
the run's report.
"""

from __future__ import annotations

import concurrent.futures
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

from bench import dataset, latency, memory, profile, servers
from bench.context import GET, WORKLOADS, Bench
from bench.loadgen import Comparison
from bench.report import ratio_text, section
from bench.report import summary_text as describe

BENCH_DIR = Path(__file__).resolve().parent
P99_TARGET = 1.5  # service p99 <= this x floor p99
GROWTH_TARGET = 1.2  # list page at the large size <= this x at 10,000
MEMORY_TARGET = 1.25  # bytes per customer <= this x a bare seed-format hash
METRICS_TARGET = 5.0  # % of GET throughput that metrics may cost
# Rounds whose req/s ratios differ more than this were disturbed by other work on the machine.
NOISY_SPREAD = 1.15
# Customer numbers of the memory probe: created 50 s after the made-up ones start, apart from them all.
PROBE_START = 50_000_000


def throughput(
    bench: Bench, service: servers.Gunicorn, floor: servers.Gunicorn, framework: servers.Gunicorn
) -> None:
    """Service against floor, per workload: req/s and p99 ratios.

    A third side, the floor's work inside Flask-RESTful (bench/framework_floor.py),
    runs in the same rotation: its ratio to the floor is what the framework
    alone costs, so the figures say how much of the gap is ours.
    """
    plan = bench.plan
    section(
        f"Throughput: service vs floor vs Flask-RESTful floor"
        f" (wrk, {plan.seconds:g} s runs, {plan.rounds} rounds, medians)"
    )
    for workload in WORKLOADS:
        runs = bench.alternate([service, floor, framework], workload, rotate=True)
        found = Comparison.of(runs[service.name], runs[floor.name])
        bare_framework = Comparison.of(runs[framework.name], runs[floor.name])
        ours, bare = found.ours, found.base
        print(
            f"  {workload.title}: service {describe(ours)}; floor {describe(bare)};"
            f" Flask-RESTful floor {describe(bare_framework.ours)}"
        )
        check_spread(bench, workload.title, found)
        sides = (("service", ours), ("floor", bare), ("Flask-RESTful floor", bare_framework.ours))
        for name, summary in sides:
            if summary.problems:
                bench.report.note(f"{workload.title} on the {name}: {'; '.join(summary.problems)}")
        target = workload.rps_target
        bench.report.add(
            "Throughput",
            f"{workload.title} req/s, service / floor",
            ratio_text(ours.rps, bare.rps, paired=found.rps_ratio),
            f"≥ {target:.2f}" if target else "",
            found.rps_ratio >= target if target else None,
        )
        bench.report.add(
            "Throughput",
            f"{workload.title} req/s, Flask-RESTful floor / floor (the framework alone)",
            ratio_text(bare_framework.ours.rps, bare.rps, paired=bare_framework.rps_ratio),
        )
        ours_over_framework = Comparison.of(runs[service.name], runs[framework.name])
        bench.report.add(
            "Throughput",
            f"{workload.title} req/s, service / Flask-RESTful floor (our own code)",
            ratio_text(ours.rps, bare_framework.ours.rps, paired=ours_over_framework.rps_ratio),
        )
        bench.report.add(
            "Throughput",
            f"{workload.title} p50, service / floor",
            ratio_text(ours.p50_ms, bare.p50_ms, " ms", 2, paired=found.p50_ratio),
        )
        bench.report.add(
            "Throughput",
            f"{workload.title} p99, service / floor",
            ratio_text(ours.p99_ms, bare.p99_ms, " ms", 2, paired=found.p99_ratio),
            f"≤ {P99_TARGET:.1f}",
            found.p99_ratio <= P99_TARGET,
        )
        bench.report.add(
            "Throughput",
            f"{workload.title} p99, Flask-RESTful floor / floor (the framework alone)",
            ratio_text(bare_framework.ours.p99_ms, bare.p99_ms, " ms", 2, paired=bare_framework.p99_ratio),
        )


def check_spread(bench: Bench, title: str, found: Comparison) -> None:
    """Print the per-round req/s ratios; note them when they disagree too much to trust."""
    low, high = found.rps_spread
    print(f"  req/s ratio per round: {low:.2f} to {high:.2f}")
    if high > NOISY_SPREAD * low:
        bench.report.note(
            f"{title}: the rounds' req/s ratios range from {low:.2f} to {high:.2f}; other work on the"
            " machine disturbed them, so run again before trusting this ratio"
        )


def metrics_cost(bench: Bench, service: servers.Gunicorn) -> None:
    """GET throughput with METRICS_ENABLED=true (the default) against false."""
    section("Metrics cost: METRICS_ENABLED=true vs false, GET (rounds in A-B-B-A order)")
    plan = bench.plan
    if http_status(service.port, "/metrics") == 404:
        bench.report.add("Metrics", "GET req/s, metrics on vs off", "not available yet (GET /metrics is 404)")
        return
    without = bench.gunicorn("no-metrics", servers.SERVICE_APP, METRICS_ENABLED="false")
    try:
        if http_status(without.port, "/metrics") != 404:
            bench.report.note("METRICS_ENABLED=false still serves /metrics: the switch has no effect yet")
        with_metrics = bench.gunicorn("metrics", servers.SERVICE_APP, METRICS_ENABLED="true")
        sides = [with_metrics, without]
        runs = bench.alternate(sides, GET, plan.metrics_rounds, plan.metrics_seconds, rotate=True)
    finally:
        servers.stop_all_named({"no-metrics", "metrics"})
    found = Comparison.of(runs["metrics"], runs["no-metrics"])
    on, off = found.ours, found.base
    cost = (1 - found.rps_ratio) * 100
    check_spread(bench, "metrics on / off", found)
    low, high = found.rps_spread
    bench.report.add(
        "Metrics",
        f"GET req/s, metrics on / off ({plan.metrics_rounds} rounds of {plan.metrics_seconds:g} s)",
        f"{on.rps:,.0f} / {off.rps:,.0f}, ratio {found.rps_ratio:.3f} (rounds {low:.2f}-{high:.2f}):"
        f" costs {cost:.1f} %",
        f"≤ {METRICS_TARGET:.0f} %",
        cost <= METRICS_TARGET,
    )
    bench.report.add(
        "Metrics",
        "GET p99, metrics on / off",
        ratio_text(on.p99_ms, off.p99_ms, " ms", 2, paired=found.p99_ratio),
    )


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def growth_latencies(bench: Bench, service: servers.Gunicorn) -> dict[str, latency.Latency]:
    """Single-request latency of the first page, a page from the middle, and GET by id."""
    count = bench.plan.sequential
    paths = {
        "list, first page": ["/customers?limit=100"],
        "list, page from the middle": [f"/customers?limit=100&cursor={dataset.middle_cursor(bench.client)}"],
        "GET by id": [f"/customers/{i}" for i in dataset.random_ids(bench.client, count)],
    }
    found = {}
    for name, urls in paths.items():
        expect = 100 if name.startswith("list") else None
        try:
            found[name] = latency.sequential(service.port, urls, count, expect_items=expect)
        except RuntimeError as error:  # e.g. a cursor format that changed: say so, measure the rest
            bench.report.note(f"{name}: not measured: {error}")
            continue
        print(f"    {name:28} median {found[name].median_ms:6.2f} ms  p90 {found[name].p90_ms:6.2f} ms")
    return found


def unloaded_latency(bench: Bench, sides: list[servers.Gunicorn]) -> None:
    """GET by id one request at a time on each side: what a request costs without queueing.

    Under wrk's 32 connections every side is saturated, so its latency is
    about connections / throughput and the p99 ratios repeat the req/s
    ratios. One request at a time shows the latency a lightly loaded
    service adds to each request.
    """
    count = bench.plan.sequential
    section(f"Unloaded latency: GET by id, one request at a time ({count} per side, twice, alternating)")
    ids = [f"/customers/{i}" for i in dataset.random_ids(bench.client, count)]
    runs: dict[str, list[latency.Latency]] = {server.name: [] for server in sides}
    for _ in range(2):
        for server in sides:
            runs[server.name].append(latency.sequential(server.port, ids, count))
    floor_name = servers.FLOOR_NAME
    # The better of each side's two runs: a burst of other work on the machine hits one, not both.
    best = {name: min(found, key=lambda measured: measured.median_ms) for name, found in runs.items()}
    for name, measured in best.items():
        print(
            f"    {name:14} median {measured.median_ms:6.2f} ms  p90 {measured.p90_ms:6.2f} ms"
            f"  p99 {measured.p99_ms:6.2f} ms"
        )
    base = best[floor_name]
    for name, measured in best.items():
        if name == floor_name:
            continue
        label = "service" if name == servers.SERVICE_NAME else "Flask-RESTful floor"
        bench.report.add(
            "Unloaded latency",
            f"GET by id, one at a time, p50 {label} / floor",
            ratio_text(measured.median_ms, base.median_ms, " ms", 2),
        )
        bench.report.add(
            "Unloaded latency",
            f"GET by id, one at a time, p99 {label} / floor",
            ratio_text(measured.p99_ms, base.p99_ms, " ms", 2),
        )


def grow(bench: Bench) -> tuple[int, float]:
    """Load customers up to the large size; return (loaded, used_memory delta)."""
    current = dataset.customer_count(bench.client)
    wanted = bench.plan.large - current
    before = memory.used_memory(bench.cluster)
    began = time.perf_counter()
    rate = dataset.load(bench.client, bench.plan.small + 1_000_000, wanted, "growing")
    elapsed = time.perf_counter() - began
    delta = memory.used_memory(bench.cluster) - before
    bench.report.add(
        "Loading",
        "bulk load with CustomerRepository.restore (batches of 5,000)",
        f"{wanted:,} customers in {elapsed:.0f} s = {rate:,.0f}/s",
    )
    return wanted, delta


def growth(bench: Bench, small: dict[str, latency.Latency], large: dict[str, latency.Latency]) -> None:
    size = f"{bench.plan.large:,} vs {bench.plan.small:,}"
    for name, before in small.items():
        if name not in large:
            continue
        is_list = name.startswith("list")
        bench.report.add(
            "Growth",
            f"{name}, median at {size} customers",
            ratio_text(large[name].median_ms, before.median_ms, " ms", 2),
            f"≤ {GROWTH_TARGET:.1f}" if is_list else "",
            large[name].median_ms <= GROWTH_TARGET * before.median_ms if is_list else None,
        )


def memory_use(bench: Bench, loaded: int, delta: float) -> None:
    """Bytes per customer, ours against the sample's bare hash."""
    section("Memory per customer")
    client, count = bench.client, bench.plan.seed_hashes
    hash_usage = memory.mean_key_usage(client, [f"customer:{i}" for i in dataset.random_ids(client, 1000)])
    index_share = memory.index_bytes_per_entry(client)
    seed_usage = memory.seed_usage(client, 1000)
    memory.customers_delta(bench.cluster, client, count, PROBE_START)  # grows the tables: not measured
    ours = memory.customers_delta(bench.cluster, client, count, PROBE_START)
    seed = memory.seed_delta(bench.cluster, client, count)
    add = bench.report.add
    add("Memory", "our hash alone (MEMORY USAGE, mean of 1,000)", f"{hash_usage:,.0f} B")
    add("Memory", "our hash + index share (MEMORY USAGE)", f"{hash_usage + index_share:,.0f} B")
    add("Memory", "bare seed hash (MEMORY USAGE, mean of 1,000)", f"{seed_usage:,.0f} B")
    add(
        "Memory",
        f"our customer, used_memory delta over the {loaded:,} loaded",
        f"{delta / loaded:,.0f} B = {delta / loaded * 100_000 / 2**20:,.1f} MiB per 100k",
    )
    add("Memory", f"our customer, used_memory delta over {count:,} written and deleted", f"{ours:,.0f} B")
    add("Memory", f"bare seed hash, used_memory delta over {count:,} written and deleted", f"{seed:,.0f} B")
    add(
        "Memory",
        "per customer, ours / bare seed hash (used_memory deltas)",
        f"{ours:,.0f} B / {seed:,.0f} B = {ours / seed:.2f}",
        f"≤ {MEMORY_TARGET:.2f}",
        ours <= MEMORY_TARGET * seed,
    )
    add(
        "Memory",
        "per customer, ours / bare seed hash (MEMORY USAGE)",
        ratio_text(hash_usage + index_share, seed_usage, " B"),
    )


def where_time_goes(bench: Bench, service: servers.Gunicorn) -> None:
    """py-spy on the service's workers during a GET load; top functions by own and total time."""
    seconds = 10 if bench.plan.seconds >= 10 else 5
    section(f"Profile: the service's workers under GET load ({seconds} s, py-spy)")
    stem = BENCH_DIR / f"profile-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            load = pool.submit(bench.wrk, service, GET, seconds + 2)
            time.sleep(1)
            everything, python = profile.record(service.pid, seconds, stem)
            load.result()
    except RuntimeError as error:  # a profile is a bonus: the figures still count
        bench.report.note(f"no profile: {error}")
        return
    print(
        f"  {everything.samples} samples of running workers (in Python or in a system call),"
        f" {python.samples} of them holding the GIL (Python running), at {profile.RATE}/s per worker;"
        f" collapsed stacks in {everything.raw_path.relative_to(BENCH_DIR.parent)} and *-gil.txt"
    )
    for title, found in (("all samples", everything), ("holding the GIL", python)):
        print(f"  own time by area of code, {title}:")
        for area, count in found.areas:
            print(f"    {count / found.samples:6.1%}  {area}")
    wrappers = f"without the {everything.wrappers} frames on ≥ 95 % of stacks (the worker loop)"
    listings = (
        ("own time, all samples", everything, everything.own),
        ("own time, holding the GIL", python, python.own),
        (f"total time, all samples, {wrappers}", everything, everything.total),
    )
    for title, found, rows in listings:
        print(f"  top 15 functions by {title}:")
        for name, count in rows:
            print(f"    {count / found.samples:6.1%}  {name}")


def print_settings(bench: Bench, service: servers.Gunicorn) -> None:
    extra = " ".join(bench.plan.gunicorn_args) or "none"
    print(
        f"  gunicorn -c gunicorn.conf.py, the same for service (wsgi:app) and floor (bench.floor:app):"
        f" {len(service.worker_pids())} workers, worker class {service.worker_class()}, extra args: {extra}"
    )
