"""``--compare-workers``: which gunicorn worker class and count suit a 2-core box.

Each setting is passed to gunicorn on the command line, which overrides
gunicorn.conf.py (``--workers`` over ``WEB_CONCURRENCY``). gthread runs with
``--reuse-port``: without it wrk's burst of keep-alive connections often all
land on one worker (see shared/REDIS-NOTES.md). All settings are started at
once and measured in turn, round after round, so machine noise falls on all
of them alike; idle masters cost next to nothing. Each setting is compared
with today's default (sync, 4 workers) round by round, and the floor (bare
WSGI, sync, 4 workers) runs alongside as the reference.
"""

from __future__ import annotations

from bench import servers
from bench.context import GET, Bench
from bench.loadgen import Comparison
from bench.report import section

DEFAULT = "sync-4"
GTHREAD = ("--threads", "4", "--reuse-port")
SETTINGS = (
    ("sync", 2, ()),
    ("sync", 4, ()),
    ("sync", 8, ()),
    ("gthread", 2, GTHREAD),
    ("gthread", 4, GTHREAD),
    ("gthread", 8, GTHREAD),
)


def compare_workers(bench: Bench) -> None:
    """GET /customers/<id> on the service under each setting; req/s and p99, also relative to sync-4."""
    bench.load_small()
    sides, titles = [], {}
    for worker_class, workers, extra in SETTINGS:
        name = f"{worker_class}-{workers}"
        args = ("--worker-class", worker_class, "--workers", str(workers), *extra)
        sides.append(bench.gunicorn(name, servers.SERVICE_APP, args))
        titles[name] = " ".join((worker_class, *extra, "--workers", str(workers)))
    floor_args = ("--worker-class", "sync", "--workers", "4")
    sides.append(bench.gunicorn("floor-sync-4", servers.FLOOR_APP, floor_args))
    titles["floor-sync-4"] = "floor (bench.floor:app), sync --workers 4"
    # Shorter runs, more rounds, and a rotating order: seven sides take a minute
    # a round, and the machine's load changes within that.
    seconds, rounds = bench.plan.seconds / 2, bench.plan.rounds + 2
    section(f"Worker settings, GET on the service ({seconds:g} s runs, {rounds} rounds, rotating order)")
    runs = bench.alternate(sides, GET, rounds, seconds, rotate=True)
    for side in sides:
        found = Comparison.of(runs[side.name], runs[DEFAULT])
        summary = found.ours
        bench.report.add(
            "Workers",
            titles[side.name],
            f"{summary.rps:,.0f} req/s, p50 {summary.p50_ms:.2f} ms, p99 {summary.p99_ms:.2f} ms;"
            f" vs {DEFAULT}: req/s x {found.rps_ratio:.2f}, p99 x {found.p99_ratio:.2f}",
        )
        if summary.problems:
            bench.report.note(f"{side.name}: {'; '.join(summary.problems)}")
