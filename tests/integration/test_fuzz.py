"""Fuzz the live service against its own OpenAPI document with schemathesis.

A real gunicorn on the real 6-node cluster, with API keys on. Every check
schemathesis has runs, bar one: ``positive_data_acceptance`` expects every
schema-valid request to succeed, but some are refused on purpose (a stale
If-Match is a 412, a cursor the service did not hand out a 400, a third
decimal place in a balance a 422).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.backends import cluster_env
from tests.support.figures import record
from tests.support.service import Service

API_KEY = "fuzz-0123456789abcdef"
EXAMPLES_PER_OPERATION = 300
# schemathesis repeats its fuzzing and stateful phases until this budget is
# spent: a bounded run of a few thousand requests (2,000-4,000 here, about
# 1,500 in 60 s on a machine busy with other test runs).
TIME_BUDGET_SECONDS = 90
# Fewer than this means the run proved little: say so rather than pass.
MIN_REQUESTS = 1000
SEED = 20261128  # fixed, so a failure in CI is reproducible; change it to explore


def test_no_request_breaks_the_service_or_its_contract(cluster, tmp_path):
    cluster.flushall()
    env = {**cluster_env(cluster), "API_KEYS": API_KEY}
    with Service(env, tmp_path / "service.log", workers=4) as service:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{service.url}/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--max-examples",
                str(EXAMPLES_PER_OPERATION),
                "--seed",
                str(SEED),
                "--header",
                f"Authorization: Bearer {API_KEY}",
                "--max-time",
                str(TIME_BUDGET_SECONDS),
                "--workers",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
            cwd=tmp_path,
        )
        log = service.log()
    summary = re.search(r"(\d+) generated, (\d+) (passed|found.*)", result.stdout)
    assert summary, result.stdout[-3000:]
    record("fuzzing", f"schemathesis: {summary.group(0)} (seed {SEED}, exit {result.returncode})")
    assert result.returncode == 0, result.stdout[-6000:]
    generated = int(summary.group(1))
    assert generated >= MIN_REQUESTS, f"only {summary.group(0)} in {TIME_BUDGET_SECONDS} s: a loaded machine?"
    assert "Traceback" not in log
    assert API_KEY not in log
