"""What the benchmark prints: the environment, targets with PASS/MISS, a results page.

Every figure goes through ``Report.add`` once, so the closing Markdown page
holds exactly what was printed along the way; run.py prints it and writes it
to a file (docs/performance-results.md by default) for the docs to include.
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
from pathlib import Path

from bench.loadgen import CONNECTIONS, THREADS, Summary, wrk_version


@dataclass(frozen=True)
class Row:
    section: str
    figure: str
    measured: str
    target: str = ""
    result: str = ""  # PASS, MISS, n/a (not measurable in this run), or "" when there is no target
    kind: str = ""  # which of the targets (KINDS)


# Issue 14's targets, in the order the target table lists them.
KINDS = (
    "req/s, service / sample",
    "req/s, service / Flask-RESTful floor",
    "one at a time, DB_WAIT_REPLICAS=1: p50, service / floor (its write + WAIT 1)",
    "under load: p99, service / Flask-RESTful floor",
    "under load: the slowest request of a run (wrk's max)",
)
_HOLDS = {"PASS": "yes", "MISS": "no", "n/a": "not measured"}


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def add(
        self,
        section: str,
        figure: str,
        measured: str,
        target: str = "",
        ok: bool | None = None,
        *,
        kind: str = "",
    ) -> None:
        """Record one figure and print it, with its target and verdict when it has one.

        ``ok`` None with a target: the figure could not be measured (a side answered nothing).
        ``kind``: which of KINDS the target is.
        """
        result = ("n/a" if target else "") if ok is None else ("PASS" if ok else "MISS")
        self.rows.append(Row(section, figure, measured, target, result, kind))
        verdict = f"   target {target}: {result}" if target else ""
        print(f"  {figure}: {measured}{verdict}", flush=True)

    def note(self, text: str) -> None:
        """Something odd that the reader of the table must know (a flagged run, a missing feature)."""
        self.notes.append(text)
        print(f"  NOTE: {text}", flush=True)

    def print_targets(self) -> None:
        section("Targets")
        targets = self.targets()
        if not targets:
            print("  (none in this mode)")
            return
        width = max(len(r.figure) for r in targets)
        kind = None
        for row in targets:
            if row.kind != kind:
                kind = row.kind
                print(f"  {kind}:")
            print(f"    {row.result:4}  {row.figure:<{width}}  {row.measured}  (target {row.target})")
        for note in self.notes:
            print(f"  NOTE: {note}")

    def targets(self) -> list[Row]:
        """The rows with a target, grouped by kind in the order of KINDS."""
        rank = {kind: number for number, kind in enumerate(KINDS)}
        return sorted((r for r in self.rows if r.target), key=lambda r: rank.get(r.kind, len(KINDS)))

    def markdown(self, command: str, environment: dict[str, str]) -> str:
        """The results page: how and where it was measured, the targets, then every figure."""
        lines = [
            "# Performance results",
            "",
            "Written by the benchmark (`bench/run.py`) at the end of its run: run it again, do not edit.",
            "",
            f"- command: `{command}`",
            *(f"- {key}: {value}" for key, value in environment.items()),
            "",
            "Throughput figures are medians over the rounds; each ratio is the median of the per-round"
            " ratios (the runs of one round are seconds apart).",
            "",
            "## Targets",
            "",
            "| target | figure | measured | bound | holds |",
            "|---|---|---|---|---|",
        ]
        kind = None
        for row in self.targets():
            name = row.kind if row.kind != kind else ""
            kind = row.kind
            lines.append(f"| {name} | {row.figure} | {row.measured} | {row.target} | {_HOLDS[row.result]} |")
        lines += [
            "",
            "## Every figure",
            "",
            "| | figure | measured |",
            "|---|---|---|",
        ]
        previous = None
        for row in self.rows:
            name = row.section if row.section != previous else ""
            previous = row.section
            lines.append(f"| {name} | {row.figure} | {row.measured} |")
        if self.notes:
            lines += ["", "## Notes", "", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def ratio_text(
    numerator: float, denominator: float, unit: str = "", digits: int = 0, paired: float | None = None
) -> str:
    """``1,234 / 2,345 = 0.53``; with ``paired`` (a median of per-round ratios) ``..., ratio 0.53``."""
    if digits == 0 and 0 < min(numerator, denominator) < 10:
        digits = 1  # the sample's listing: about 1 req/s
    figures = f"{numerator:,.{digits}f}{unit} / {denominator:,.{digits}f}{unit}"
    if paired is not None:
        return f"{figures}, ratio {paired:.2f}"
    ratio = numerator / denominator if denominator else float("inf")
    return f"{figures} = {ratio:.2f}"


def summary_text(summary: Summary) -> str:
    flag = f" FLAGGED ({'; '.join(summary.problems)})" if summary.problems else ""
    return f"{rate_text(summary.rps)} req/s, p50 {summary.p50_ms:.2f} ms, p99 {summary.p99_ms:.2f} ms{flag}"


def rate_text(rps: float) -> str:
    return f"{rps:,.1f}" if rps < 10 else f"{rps:,.0f}"


def command_line() -> str:
    """The command as a person types it from the repository root."""
    return shlex.join([".venv/bin/python", "-m", "bench.run", *sys.argv[1:]])


def environment(redis_version: str) -> dict[str, str]:
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cores": f"{cores or os.cpu_count()} ({_cpu_model()})",
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "redis": f"{redis_version}, 6-node cluster (3 primaries, 3 replicas) on 127.0.0.1",
        "gunicorn": importlib.metadata.version("gunicorn"),
        "redis-py": _versions("redis", "hiredis"),
        "Flask": _versions("flask", "flask-restful"),
        "wrk": f"{wrk_version()}, {THREADS} threads, {CONNECTIONS} keep-alive connections",
        "load average at the start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def print_environment(values: dict[str, str]) -> None:
    width = max(len(key) for key in values)
    for key, value in values.items():
        print(f"  {key:<{width}}  {value}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _versions(*packages: str) -> str:
    found = []
    for package in packages:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"no {package}")
    return ", ".join(found)
