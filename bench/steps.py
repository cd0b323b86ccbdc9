"""The measurements of a full run besides throughput and single requests, one function each.

run.py says in which order. Each prints what it measured and adds its
figures to the run's report. These carry no targets any more: issue 14's
targets (throughput.py, single.py) replaced those of the earlier issue.
"""

from __future__ import annotations

import concurrent.futures
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

from bench import dataset, latency, memory, profile, servers
from bench.context import GET, Bench
from bench.loadgen import Comparison
from bench.report import ratio_text, section
from bench.throughput import check_spread

BENCH_DIR = Path(__file__).resolve().parent
# Customer numbers of the memory probe: created 50 s after the made-up ones start, apart from them all.
PROBE_START = 50_000_000


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
        "bulk load with CustomerMaintenance.restore (batches of 5,000)",
        f"{wanted:,} customers in {elapsed:.0f} s = {rate:,.0f}/s",
    )
    return wanted, delta


def growth(bench: Bench, small: dict[str, latency.Latency], large: dict[str, latency.Latency]) -> None:
    size = f"{bench.plan.large:,} vs {bench.plan.small:,}"
    for name, before in small.items():
        if name in large:
            bench.report.add(
                "Growth",
                f"{name}, median at {size} customers",
                ratio_text(large[name].median_ms, before.median_ms, " ms", 2),
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
    """How every side runs (the service's effective gunicorn settings), also for the results page."""
    plan = bench.plan
    extra = " ".join(plan.gunicorn_args) or "none"
    bench.settings_text = (
        f"every side (service, sample, floor, Flask-RESTful floor) under gunicorn -c gunicorn.conf.py:"
        f" {len(service.worker_pids())} workers, worker class {service.worker_class()}, extra args: {extra};"
        f" wrk runs of {plan.seconds:g} s, {plan.rounds} rounds"
    )
    print(f"  {bench.settings_text}")
