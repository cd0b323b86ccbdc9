"""Latency of single requests, one at a time, for comparing data set sizes.

Under wrk's load a request waits for others; one request at a time measures
what the request itself costs, which is what grows (or should not) with the
number of customers. ``http.client`` keeps the connection where the server
allows it and reconnects where it closes it (sync workers close each one).
"""

from __future__ import annotations

import http.client
import statistics
import time
from dataclasses import dataclass

# Enough for every worker to have built its Redis client and served a few requests.
WARMUP = 50


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p90_ms: float
    p99_ms: float
    count: int


def sequential(port: int, paths: list[str], count: int, expect_items: int | None = None) -> Latency:
    """GET ``paths`` round-robin ``count`` times; every answer must be 200.

    ``expect_items``: a listing must return this many customers, so a broken
    cursor cannot pass for a fast page.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    timings = []
    try:
        for number in range(WARMUP + count):
            path = paths[number % len(paths)]
            began = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - began
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
            if expect_items is not None and number == 0 and body.count(b'"id":') != expect_items:
                raise RuntimeError(f"GET {path}: expected {expect_items} customers in the page")
            if number >= WARMUP:
                timings.append(elapsed * 1000)
    finally:
        connection.close()
    percentiles = statistics.quantiles(timings, n=100)
    return Latency(
        median_ms=statistics.median(timings), p90_ms=percentiles[89], p99_ms=percentiles[98], count=count
    )
