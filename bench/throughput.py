"""Throughput under wrk: the service against the sample, the floor and the Flask-RESTful floor.

The four sides run in one rotation per workload (each round starts one side
further on), so a drift in the machine's load favours none. Every ratio is
the median of the per-round ratios: the runs of one round are seconds apart,
far steadier than medians taken minutes apart. The targets (issue 14) are
against the sample, the public code the service replaces, and against the
Flask-RESTful floor, the least any Flask-RESTful service can do; the bare
floor's ratios are printed for reference.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

from bench import servers
from bench.context import WORKLOADS, Bench, Workload
from bench.loadgen import Comparison, WrkResult
from bench.report import KINDS, ratio_text, section
from bench.report import summary_text as describe
from bench.supply import RATE_CEILING

# Service req/s >= this x the sample's (the listing: a page of 100 against the sample's whole scan).
OVER_SAMPLE = {"GET": 1.00, "POST": 1.00, "PUT": 1.00, "DELETE": 1.00, "LIST": 20.0}
# Service req/s >= this x the Flask-RESTful floor's.
OVER_FRAMEWORK = {"GET": 0.92, "PUT": 0.90, "PATCH": 0.90, "POST": 0.85, "LIST": 0.90}
P99_OVER_FRAMEWORK = 1.2  # service p99 under load <= this x the Flask-RESTful floor's
MAX_LATENCY_MS = 250.0  # the service's slowest request in any run
# Rounds whose req/s ratios differ more than this were disturbed by other work on the machine.
NOISY_SPREAD = 1.15
SECTION = "Throughput"
OVER_SAMPLE_KIND, OVER_FRAMEWORK_KIND, _, P99_KIND, MAX_KIND = KINDS


@dataclass(frozen=True)
class Sides:
    service: servers.Gunicorn
    sample: servers.Gunicorn
    floor: servers.Gunicorn
    framework: servers.Gunicorn

    def serving(self, workload: Workload) -> list[servers.Gunicorn]:
        sides = [self.service, self.sample, self.floor, self.framework]
        return sides if workload.sample else [s for s in sides if s is not self.sample]


def throughput(bench: Bench, sides: Sides) -> None:
    """Every workload on every side that serves it; targets per workload."""
    plan = bench.plan
    section(
        f"Throughput: service vs sample vs floor vs Flask-RESTful floor"
        f" (wrk, {plan.seconds:g} s runs, the listing's ≥ 10 s, {plan.rounds} rounds, rotating, medians)"
    )
    print(f"  the sample's prints go to {sides.sample.log_path} (a file on disk, with gunicorn's log)")
    seen: dict[str, list[WrkResult]] = {}
    for workload in WORKLOADS:
        serving = sides.serving(workload)
        if workload.key == "LIST":
            check_sample_list(bench, sides.sample)
        if workload.ids == "consumed":
            supply_deletes(bench, serving, seen)
        try:
            runs = bench.alternate(serving, workload, rotate=True)
        finally:
            if workload.ids == "consumed":
                bench.supply.clean(bench.client)
        for name, results in runs.items():
            seen.setdefault(name, []).extend(results)
        report_workload(bench, workload, sides, runs)


def check_sample_list(bench: Bench, sample: servers.Gunicorn) -> None:
    """The sample's listing must see exactly the starting set: nothing has written yet."""
    url = f"http://127.0.0.1:{sample.port}/customers"
    with urllib.request.urlopen(url, timeout=60) as response:
        count = len(json.loads(response.read()))
    print(f"  the sample's GET /customers returns {count:,} customers (the whole keyspace)")
    if count != bench.plan.small:
        bench.report.note(f"the sample listed {count:,} customers, not {bench.plan.small:,}")


def supply_deletes(bench: Bench, serving: list[servers.Gunicorn], seen: dict[str, list[WrkResult]]) -> None:
    """Customers for each side to delete: a slice per run, for more req/s than any side reached."""
    plan = bench.plan
    rate = max(RATE_CEILING, 1.5 * max(result.rps for results in seen.values() for result in results))
    sizes = [bench.supply.slice_size(rate, s) for s in (1, *[plan.seconds] * plan.rounds)]
    print(f"  making {sum(sizes):,} customers per side to delete ({' + '.join(map(str, sizes))}, one a run)")
    for server in serving:
        bench.supply.add(bench.client, server.name, sizes, indexed=server.name == servers.SERVICE_NAME)


def report_workload(bench: Bench, workload: Workload, sides: Sides, runs: dict[str, list[WrkResult]]) -> None:
    title, key, add = workload.title, workload.key, bench.report.add
    service = runs[sides.service.name]
    framework = Comparison.of(service, runs[sides.framework.name])
    floor = Comparison.of(service, runs[sides.floor.name])
    sample = Comparison.of(service, runs[sides.sample.name]) if workload.sample else None
    summaries = {"service": framework.ours, **({"sample": sample.base} if sample else {})}
    summaries |= {"floor": floor.base, "Flask-RESTful floor": framework.base}
    for name, summary in summaries.items():
        print(f"  {title}, {name}: {describe(summary)}")
        if summary.problems:
            bench.report.note(f"{title} on the {name}: {'; '.join(summary.problems)}")
    if sample:
        _rps_target(bench, title, "service / sample", sample, OVER_SAMPLE.get(key), OVER_SAMPLE_KIND)
    versus = "service / Flask-RESTful floor"
    _rps_target(bench, title, versus, framework, OVER_FRAMEWORK.get(key), OVER_FRAMEWORK_KIND)
    add(
        SECTION,
        f"{title} p99, service / Flask-RESTful floor",
        ratio_text(framework.ours.p99_ms, framework.base.p99_ms, " ms", 2, paired=framework.p99_ratio),
        f"≤ {P99_OVER_FRAMEWORK:.1f}",
        holds(framework, framework.p99_ratio <= P99_OVER_FRAMEWORK),
        kind=P99_KIND,
    )
    add(
        SECTION,
        f"{title} slowest request in a run (wrk max), ms",
        ", ".join(f"{name} {summary.max_ms:,.0f}" for name, summary in summaries.items()),
        f"service ≤ {MAX_LATENCY_MS:.0f} ms",
        framework.ours.max_ms <= MAX_LATENCY_MS if framework.ours.answered else None,
        kind=MAX_KIND,
    )
    bare = Comparison.of(runs[sides.framework.name], runs[sides.floor.name])
    add(
        SECTION,
        f"{title} req/s, service / floor; Flask-RESTful floor / floor (the framework alone)",
        f"{ratio_text(floor.ours.rps, floor.base.rps, paired=floor.rps_ratio)}; {bare.rps_ratio:.2f}",
    )


def _rps_target(  # noqa: PLR0917 (each argument is one column of the row)
    bench: Bench, title: str, versus: str, found: Comparison, target: float | None, kind: str
) -> None:
    """One req/s ratio and its target (none: the figure alone), after a check of its rounds."""
    check_spread(bench, f"{title}, {versus}", found)
    bench.report.add(
        SECTION,
        f"{title} req/s, {versus}",
        ratio_text(found.ours.rps, found.base.rps, paired=found.rps_ratio),
        f"≥ {target:.2f}" if target else "",
        holds(found, found.rps_ratio >= target) if target else None,
        kind=kind,
    )


def holds(found: Comparison, verdict: bool) -> bool | None:
    """The verdict, or None (not measured) when a run of either side answered no request."""
    return verdict if found.ours.answered and found.base.answered else None


def check_spread(bench: Bench, title: str, found: Comparison) -> None:
    """Print the per-round req/s ratios; note them when they disagree too much to trust."""
    low, high = found.rps_spread
    print(f"  {title}: req/s ratio per round {low:.2f} to {high:.2f}")
    if high > NOISY_SPREAD * low:
        bench.report.note(
            f"{title}: the rounds' req/s ratios range from {low:.2f} to {high:.2f}; other work on the"
            " machine disturbed them, so run again before trusting this ratio"
        )
