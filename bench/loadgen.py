"""Run wrk and read its report.

wrk is the load generator because it is written in C: a Python client would
spend the same 2 cores the servers need. Its ``--latency`` report gives the
percentiles, its thread statistics the slowest request of the run;
"Non-2xx or 3xx responses" (counted for statuses of 400 and above) marks a
run whose numbers cannot be trusted, since errors are cheaper than answers,
and so does delete.lua's "ids exhausted".
"""

from __future__ import annotations

import re
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "wrk"
CONNECTIONS = 32
THREADS = 2
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_REQUESTS = re.compile(r"^\s+(\d+) requests in", re.MULTILINE)
_VALUE = r"([\d.]+)(us|ms|s|m|h)"
# "    Latency   7.38ms    2.10ms  43.05ms   80.25%": average, deviation, maximum.
_MAXIMUM = re.compile(rf"^\s+Latency\s+{_VALUE}\s+{_VALUE}\s+{_VALUE}", re.MULTILINE)
_EXHAUSTED = "ids exhausted"


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float  # the slowest request of the run
    requests: int
    non_2xx: int
    socket_errors: tuple[int, int, int, int]  # connect, read, write, timeout
    exhausted: bool = False  # delete.lua ran out of ids

    @property
    def problem(self) -> str | None:
        """Why this run is flagged, or None."""
        if self.exhausted:
            return "ran out of customers to delete"
        if not self.requests:
            return "no request answered within the run"
        if self.non_2xx:
            return f"{self.non_2xx} non-2xx/3xx responses"
        connect, _read, write, timeout = self.socket_errors
        if connect or write or timeout:
            return f"socket errors connect {connect}, write {write}, timeout {timeout}"
        return None


def run_wrk(
    url: str, script: str, seconds: float, script_args: tuple[str, ...] = (), timeout: float = 5
) -> WrkResult:
    """One wrk run (32 keep-alive connections, 2 threads); ``timeout``: slower requests count as errors."""
    command = [
        "wrk",
        f"--threads={THREADS}",
        f"--connections={CONNECTIONS}",
        f"--duration={max(1, round(seconds))}s",
        f"--timeout={round(timeout)}s",
        "--latency",
        f"--script={SCRIPTS / script}",
        url,
    ]
    if script_args:
        command += ["--", *script_args]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + timeout + 60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    return parse(result.stdout)


def parse(report: str) -> WrkResult:
    """Read req/s, p50, p99 and the error counts from wrk's text report."""
    percentiles = {p: float(value) * _UNITS[unit] for p, value, unit in _PERCENTILE.findall(report)}
    rate, requests, maximum = _RATE.search(report), _REQUESTS.search(report), _MAXIMUM.search(report)
    if rate is None or requests is None or maximum is None or set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"could not read wrk's report:\n{report}")
    non_2xx = _NON_2XX.search(report)
    socket = _SOCKET.search(report)
    return WrkResult(
        rps=float(rate.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        max_ms=float(maximum.group(5)) * _UNITS[maximum.group(6)],
        requests=int(requests.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=tuple(int(n) for n in socket.groups()) if socket else (0, 0, 0, 0),  # type: ignore[arg-type]
        exhausted=_EXHAUSTED in report,
    )


@dataclass(frozen=True)
class Summary:
    """Medians over the runs of one (server, workload) pair."""

    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float  # the slowest request of any run
    runs: int
    problems: tuple[str, ...]
    answered: bool  # every run had answers: its latency figures mean something

    @classmethod
    def of(cls, results: list[WrkResult]) -> Summary:
        return cls(
            rps=statistics.median(r.rps for r in results),
            p50_ms=statistics.median(r.p50_ms for r in results),
            p99_ms=statistics.median(r.p99_ms for r in results),
            max_ms=max(r.max_ms for r in results),
            runs=len(results),
            problems=tuple(p for r in results if (p := r.problem)),
            answered=all(r.requests for r in results),
        )


@dataclass(frozen=True)
class Comparison:
    """Two sides run in alternation: medians of each, and medians of the per-round ratios.

    Other people's jobs come and go on this machine; the runs of one round are
    seconds apart, so the ratio within a round is far steadier than the ratio
    of two medians taken over minutes.
    """

    ours: Summary
    base: Summary
    rps_ratio: float
    p50_ratio: float
    p99_ratio: float
    rps_spread: tuple[float, float]  # lowest and highest per-round req/s ratio

    @classmethod
    def of(cls, ours: list[WrkResult], base: list[WrkResult]) -> Comparison:
        def ratios(attribute: str) -> list[float]:
            pairs = zip(ours, base, strict=True)
            return [_ratio(getattr(a, attribute), getattr(b, attribute)) for a, b in pairs]

        rps = ratios("rps")
        return cls(
            Summary.of(ours),
            Summary.of(base),
            statistics.median(rps),
            statistics.median(ratios("p50_ms")),
            statistics.median(ratios("p99_ms")),
            (min(rps), max(rps)),
        )


def _ratio(numerator: float, denominator: float) -> float:
    """A run with no answer at all (0 req/s) is infinitely slower, not a crash."""
    return numerator / denominator if denominator else float("inf")


def wrk_version() -> str:
    """wrk's first line (it prints it with --version, and exits 1)."""
    result = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False)
    first = (result.stdout or result.stderr).splitlines()[0]
    return first.split("Copyright")[0].strip()
