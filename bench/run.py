"""Benchmark the service against the thinnest Python service over the same cluster.

    .venv/bin/python -m bench.run                    # full run, about 20 minutes
    .venv/bin/python -m bench.run --quick            # shorter runs, 100,000 customers
    .venv/bin/python -m bench.run --compare-workers  # gunicorn worker classes and counts
    .venv/bin/python -m bench.run --profile          # also: where the workers spend their time (py-spy)

A measurement, not a test: it prints figures next to targets and exits 0
whether they are met or not. Beside each service / floor ratio it prints the
ratio of the floor's own handlers run inside Flask-RESTful (bench/framework_floor.py):
what the framework alone costs, before any of the service's code. The machine is shared and has 2 cores, so
absolute figures wander from run to run; every comparison is a ratio of two
figures measured in the same run, alternating between the two sides.

Everything it starts (a 6-node cluster in a temporary directory, gunicorn
masters, wrk, py-spy) is stopped at the end, also on Ctrl-C or an error,
by the pids it recorded.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from app.settings import Settings
from bench import dataset, servers, steps
from bench.compare import compare_workers
from bench.context import Bench, Plan
from bench.report import command_line, environment, print_environment, section


def full_run(bench: Bench, with_profile: bool) -> None:
    """Every measurement, in an order where each leaves the next a known state.

    Single requests at 10,000 customers come first, before POST adds
    customers; the big load and the memory figures come last, so that the
    throughput runs work on the small set and the memory probes see no load.
    """
    plan = bench.plan
    bench.load_small()
    service = bench.gunicorn(servers.SERVICE_NAME, servers.SERVICE_APP)
    floor = bench.gunicorn(servers.FLOOR_NAME, servers.FLOOR_APP)
    framework = bench.gunicorn(servers.FRAMEWORK_FLOOR_NAME, servers.FRAMEWORK_FLOOR_APP)
    steps.print_settings(bench, service)
    section(f"Single requests at {dataset.customer_count(bench.client):,} customers ({plan.sequential} each)")
    small = steps.growth_latencies(bench, service)
    steps.unloaded_latency(bench, [service, floor, framework])
    steps.throughput(bench, service, floor, framework)
    steps.metrics_cost(bench, service)
    if with_profile:
        steps.where_time_goes(bench, service)
    section(f"Growing to {plan.large:,} customers")
    loaded, delta = steps.grow(bench)
    section(f"Single requests at {dataset.customer_count(bench.client):,} customers ({plan.sequential} each)")
    large = steps.growth_latencies(bench, service)
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
        else:
            full_run(bench, args.profile)
        bench.report.print_targets()
        bench.report.print_markdown(command_line(), one_line(env))
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything this run started", file=sys.stderr)
        return 130
    finally:
        servers.stop_all()
        bench.cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def one_line(env: dict[str, str]) -> str:
    return (
        f"{env['date']}: {env['cores']} cores, Python {env['python']}, Redis {env['redis']},"
        f" gunicorn {env['gunicorn']}, {env['wrk']}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, 2 rounds, 100,000 customers")
    parser.add_argument(
        "--compare-workers", action="store_true", help="only compare gunicorn worker classes and counts"
    )
    parser.add_argument("--profile", action="store_true", help="also profile the workers with py-spy")
    parser.add_argument(
        "--workers",
        type=int,
        # The service's own default for this machine (WEB_CONCURRENCY unset).
        default=Settings.from_env({}).web_concurrency,
        help="gunicorn workers for service and floor (WEB_CONCURRENCY; default %(default)s, the service's)",
    )
    parser.add_argument(
        "--gunicorn-args",
        default="",
        help='extra gunicorn arguments for both, e.g. "--worker-class gthread --threads 4 --reuse-port"',
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
