"""Benchmark the service against the original sample and two floors over the same cluster.

    .venv/bin/python -m bench.run                    # full run, about 20 minutes
    .venv/bin/python -m bench.run --quick            # shorter runs, 100,000 customers, a few minutes
    .venv/bin/python -m bench.run --compare-workers  # gunicorn worker classes and counts
    .venv/bin/python -m bench.run --profile          # also: where the workers spend their time (py-spy)

A measurement, not a test: it prints figures next to issue 14's targets and
exits 0 whether they are met or not. The sides, all under the repository's
gunicorn.conf.py with the same workers: the service (wsgi:app); the original
public sample, re-created (bench/sample.py); the floor, a bare WSGI callable
doing one Redis command a request (bench/floor.py); and the floor's handlers
inside Flask-RESTful (bench/framework_floor.py), the least any Flask-RESTful
service can do. The machine is shared and has 2 cores, so absolute figures
wander from run to run; every comparison is a ratio of figures measured in
the same run, rotating between the sides.

At the end it prints the targets and writes a Markdown results page
(docs/performance-results.md for a full run; --write-docs PATH to choose,
also for --quick). Everything it starts (a 6-node cluster in a temporary
directory, gunicorn masters, wrk, py-spy) is stopped at the end, also on
Ctrl-C or an error, by the pids it recorded.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from app.settings import Settings
from bench import dataset, servers, single, steps
from bench.compare import compare_workers
from bench.context import Bench, Plan
from bench.events import events_cost
from bench.report import command_line, environment, print_environment, section
from bench.throughput import Sides, throughput

REPO = Path(__file__).resolve().parent.parent
DOCS_PAGE = REPO / "docs" / "performance-results.md"


def full_run(bench: Bench, with_profile: bool) -> None:
    """Every measurement, in an order where each leaves the next a known state.

    Reads at 10,000 customers come first; the throughput runs list before
    anything writes (the sample's listing scans the whole keyspace), and
    delete only customers made for them. The big load and the memory figures
    come last, so that the throughput runs work on the small set and the
    memory probes see no load.
    """
    plan = bench.plan
    bench.load_small()
    sides = Sides(
        service=bench.gunicorn(servers.SERVICE_NAME, servers.SERVICE_APP),
        sample=bench.sample(),
        floor=bench.gunicorn(servers.FLOOR_NAME, servers.FLOOR_APP),
        framework=bench.gunicorn(servers.FRAMEWORK_FLOOR_NAME, servers.FRAMEWORK_FLOOR_APP),
    )
    steps.print_settings(bench, sides.service)
    section(f"Single requests at {dataset.customer_count(bench.client):,} customers ({plan.sequential} each)")
    small = steps.growth_latencies(bench, sides.service)
    single.unloaded_latency(bench, [sides.service, sides.sample, sides.floor, sides.framework])
    throughput(bench, sides)
    steps.metrics_cost(bench, sides.service)
    events_cost(bench)
    single.durable_latency(bench)
    if with_profile:
        steps.where_time_goes(bench, sides.service)
    servers.stop_all_named({servers.SAMPLE_NAME, servers.FLOOR_NAME, servers.FRAMEWORK_FLOOR_NAME})
    section(f"Growing to {plan.large:,} customers")
    loaded, delta = steps.grow(bench)
    section(f"Single requests at {dataset.customer_count(bench.client):,} customers ({plan.sequential} each)")
    large = steps.growth_latencies(bench, sides.service)
    steps.growth(bench, small, large)
    steps.memory_use(bench, loaded, delta)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan.from_args(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below runs
    workdir = Path(tempfile.mkdtemp(prefix="customers-bench-"))
    bench = Bench(plan, workdir)
    try:
        section("customers benchmark")
        print(f"  {command_line()}")
        bench.start_cluster()
        env = environment(bench.redis_version())
        print_environment(env)
        if args.compare_workers:
            compare_workers(bench)
        elif args.events:
            bench.load_small()
            events_cost(bench)
        else:
            full_run(bench, args.profile)
        if bench.settings_text:
            env["settings"] = bench.settings_text
        bench.report.print_targets()
        page = bench.report.markdown(command_line(), env)
        section("Results page")
        print(page)
        if args.write_docs:
            args.write_docs.parent.mkdir(parents=True, exist_ok=True)
            args.write_docs.write_text(page)
            print(f"  written to {args.write_docs}")
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything this run started", file=sys.stderr)
        return 130
    finally:
        servers.stop_all()
        bench.cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, 2 rounds, 100,000 customers")
    parser.add_argument(
        "--compare-workers", action="store_true", help="only compare gunicorn worker classes and counts"
    )
    parser.add_argument(
        "--events", action="store_true", help="only compare write throughput with events on and off"
    )
    parser.add_argument("--profile", action="store_true", help="also profile the workers with py-spy")
    parser.add_argument(
        "--write-docs",
        type=Path,
        metavar="PATH",
        help=f"write the results page here (default for a full run: {DOCS_PAGE.relative_to(REPO)})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        # The service's own default for this machine (WEB_CONCURRENCY unset).
        default=Settings.from_env({}).web_concurrency,
        help="gunicorn workers for every side (WEB_CONCURRENCY; default %(default)s, the service's)",
    )
    parser.add_argument(
        "--gunicorn-args",
        default="",
        help='extra gunicorn arguments for all sides, e.g. "--worker-class gthread --threads 4 --reuse-port"',
    )
    args = parser.parse_args(argv)
    if args.write_docs is None and not (args.quick or args.compare_workers or args.events):
        args.write_docs = DOCS_PAGE
    return args


if __name__ == "__main__":
    sys.exit(main())
