"""What the benchmark prints: the environment, targets with PASS/MISS, a markdown table.

Every figure goes through ``Report.add`` once, so the closing markdown table
holds exactly what was printed along the way, ready to paste into the README.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime

from bench.loadgen import CONNECTIONS, THREADS, Summary, wrk_version


@dataclass(frozen=True)
class Row:
    section: str
    figure: str
    measured: str
    target: str = ""
    result: str = ""  # PASS, MISS, or "" when there is no target


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def add(self, section: str, figure: str, measured: str, target: str = "", ok: bool | None = None) -> None:
        """Record one figure and print it, with its target and verdict when it has one."""
        result = "" if ok is None else ("PASS" if ok else "MISS")
        self.rows.append(Row(section, figure, measured, target, result))
        verdict = f"   target {target}: {result}" if target else ""
        print(f"  {figure}: {measured}{verdict}", flush=True)

    def note(self, text: str) -> None:
        """Something odd that the reader of the table must know (a flagged run, a missing feature)."""
        self.notes.append(text)
        print(f"  NOTE: {text}", flush=True)

    def print_targets(self) -> None:
        section("Targets")
        if not any(row.target for row in self.rows):
            print("  (none in this mode)")
            return
        width = max((len(r.figure) for r in self.rows if r.target), default=10)
        for row in self.rows:
            if row.target:
                print(f"  {row.result:4}  {row.figure:<{width}}  {row.measured}  (target {row.target})")
        for note in self.notes:
            print(f"  NOTE: {note}")

    def print_markdown(self, command: str, environment: str) -> None:
        section("Markdown (for the README)")
        print(f"Measured with `{command}` on {environment}.")
        print(
            "Throughput figures are medians over the rounds; each ratio is the median of the"
            " per-round ratios (the two runs of a round are seconds apart).\n"
        )
        print("| | figure | measured | target | |")
        print("|---|---|---|---|---|")
        previous = None
        for row in self.rows:
            name = row.section if row.section != previous else ""
            previous = row.section
            print(f"| {name} | {row.figure} | {row.measured} | {row.target} | {row.result} |")
        for note in self.notes:
            print(f"\nNote: {note}")


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def ratio_text(
    numerator: float, denominator: float, unit: str = "", digits: int = 0, paired: float | None = None
) -> str:
    """``1,234 / 2,345 = 0.53``; with ``paired`` (a median of per-round ratios) ``..., ratio 0.53``."""
    figures = f"{numerator:,.{digits}f}{unit} / {denominator:,.{digits}f}{unit}"
    if paired is not None:
        return f"{figures}, ratio {paired:.2f}"
    ratio = numerator / denominator if denominator else float("inf")
    return f"{figures} = {ratio:.2f}"


def summary_text(summary: Summary) -> str:
    flag = f" FLAGGED ({'; '.join(summary.problems)})" if summary.problems else ""
    return f"{summary.rps:,.0f} req/s, p50 {summary.p50_ms:.2f} ms, p99 {summary.p99_ms:.2f} ms{flag}"


def command_line() -> str:
    """The command as a person types it from the repository root."""
    return shlex.join([".venv/bin/python", "-m", "bench.run", *sys.argv[1:]])


def environment(redis_version: str) -> dict[str, str]:
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cores": cores or str(os.cpu_count()),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "redis": f"{redis_version}, 6-node cluster (3 primaries, 3 replicas) on 127.0.0.1",
        "gunicorn": importlib.metadata.version("gunicorn"),
        "wrk": f"{wrk_version()}, {THREADS} threads, {CONNECTIONS} keep-alive connections",
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def print_environment(values: dict[str, str]) -> None:
    width = max(len(key) for key in values)
    for key, value in values.items():
        print(f"  {key:<{width}}  {value}")
