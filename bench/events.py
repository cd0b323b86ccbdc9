"""The cost of change events: POST, PUT and DELETE with EVENTS_ENABLED=true vs false.

Two services over the same cluster, the same workers, alternating in A-B-B-A
rounds as the metrics comparison does; then the feed's Redis memory per
event (MEMORY USAGE of ``customers:events`` over its length).
"""

from __future__ import annotations

import time

from bench import servers
from bench.context import WORKLOADS, Bench
from bench.loadgen import Comparison
from bench.report import section
from bench.supply import RATE_CEILING
from bench.throughput import check_spread

WRITES = [w for w in WORKLOADS if w.key in ("POST", "PUT", "DELETE")]
TARGET_COST_PERCENT = 5.0
FEED_KEY = "customers:events"
_RELAY_SETTLE_SECONDS = 2.0
ON, OFF = "events-on", "events-off"


def events_cost(bench: Bench) -> None:
    """Write throughput with events on and off, and memory per event."""
    section("Events cost: EVENTS_ENABLED=true vs false, POST / PUT / DELETE (rounds in A-B-B-A order)")
    plan = bench.plan
    on = bench.gunicorn(ON, servers.SERVICE_APP, EVENTS_ENABLED="true")
    off = bench.gunicorn(OFF, servers.SERVICE_APP, EVENTS_ENABLED="false")
    rounds = plan.metrics_rounds
    try:
        for workload in WRITES:
            if workload.ids == "consumed":
                sizes = [
                    bench.supply.slice_size(RATE_CEILING, s) for s in (1, *[plan.metrics_seconds] * rounds)
                ]
                for side in (ON, OFF):
                    bench.supply.add(bench.client, side, sizes, indexed=True)
            runs = bench.alternate([on, off], workload, rounds, plan.metrics_seconds, rotate=True)
            found = Comparison.of(runs[ON], runs[OFF])
            check_spread(bench, f"{workload.key} events on / off", found)
            cost = (1 - found.rps_ratio) * 100
            low, high = found.rps_spread
            verdict = "within" if cost <= TARGET_COST_PERCENT else "above"
            line = (
                f"{found.ours.rps:,.0f} / {found.base.rps:,.0f}, ratio {found.rps_ratio:.3f}"
                f" (rounds {low:.2f}-{high:.2f}): costs {cost:.1f} %"
                f" ({verdict} the {TARGET_COST_PERCENT:g} % aim)"
            )
            print(f"  {workload.key}: {line}")
            bench.report.add("Events", f"{workload.key} req/s, events on / off ({rounds} rounds)", line)
        time.sleep(_RELAY_SETTLE_SECONDS)  # the last relay steps
        memory_per_event(bench)
    finally:
        servers.stop_all_named({ON, OFF})


def memory_per_event(bench: Bench) -> None:
    """MEMORY USAGE of the feed (every entry sampled) over its number of events."""
    client = bench.client
    length = client.xlen(FEED_KEY)
    if not length:
        bench.report.add("Events", "Redis memory per event", "no events in the feed")
        return
    usage = client.memory_usage(FEED_KEY, samples=0)
    line = f"{usage / length:,.0f} B per event ({length:,} events, {usage / 1024 / 1024:,.1f} MiB)"
    print(f"  feed: {line}")
    bench.report.add("Events", "Redis memory per event (MEMORY USAGE customers:events / XLEN)", line)
