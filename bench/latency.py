"""Latency of single requests, one at a time, for comparing sizes and sides.

Under wrk's load a request waits for others; one request at a time measures
what the request itself costs, which is what grows (or should not) with the
number of customers, and what a durable write adds. ``http.client`` keeps the connection where the server
allows it and reconnects where it closes it (sync workers close each one).
"""

from __future__ import annotations

import http.client
import statistics
import time
from dataclasses import dataclass

# Enough for every worker to have built its Redis client and served a few requests.
WARMUP = 50
_JSON = {"Content-Type": "application/json"}

# A GET path, or (method, path, JSON body or None).
Request = str | tuple[str, str, bytes | None]


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p90_ms: float
    p99_ms: float
    count: int


def sequential(port: int, requests: list[Request], count: int, expect_items: int | None = None) -> Latency:
    """Send ``requests`` round-robin, WARMUP + ``count`` of them; every answer must be a 2xx.

    ``expect_items``: a listing must return this many customers, so a broken
    cursor cannot pass for a fast page.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    timings = []
    try:
        for number in range(WARMUP + count):
            item = requests[number % len(requests)]
            method, path, payload = ("GET", item, None) if isinstance(item, str) else item
            began = time.perf_counter()
            connection.request(method, path, payload, _JSON if payload is not None else {})
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - began
            if not 200 <= response.status < 300:
                raise RuntimeError(f"{method} {path}: {response.status} {body[:200]!r}")
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
