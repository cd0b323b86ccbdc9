"""Fault tests: each test gets a 6-node Redis Cluster of its own and a real
gunicorn process in front of it, then breaks the cluster under load.

Every test here is marked ``faults``. The figures the tests measure are
printed as a table at the end of the session (and by each test with -s).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.faults.harness import FIGURES
from tests.support.redis_servers import LocalCluster
from tests.support.service import Service

_HERE = Path(__file__).resolve().parent
_LOG_TAIL = 4000
_log_key = pytest.StashKey[Path]()


def pytest_collection_modifyitems(items):
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def cluster(tmp_path):
    """A 6-node cluster (3 primaries, 3 replicas) for this test alone."""
    with LocalCluster(tmp_path / "cluster") as started:
        yield started


@pytest.fixture
def start_service(cluster, tmp_path, request):
    """Start gunicorn over ``cluster``; every service started is stopped at teardown.

    ``dbport`` picks the node the service is configured with (the first
    node by default): a test that kills a node passes another one.
    """
    with contextlib.ExitStack() as stack:

        def start(env: dict[str, str] | None = None, *, dbport: int | None = None, workers: int = 4):
            full_env = {
                "DBHOST": "127.0.0.1",
                "DBPORT": str(dbport or cluster.ports[0]),
                "DBTLS": "false",
                **(env or {}),
            }
            log_path = tmp_path / "service.log"
            request.node.stash[_log_key] = log_path
            return stack.enter_context(Service(full_env, log_path, workers=workers))

        yield start


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    log_path = item.stash.get(_log_key, None)
    if report.failed and log_path is not None and log_path.exists():
        tail = log_path.read_text(errors="replace")[-_LOG_TAIL:]
        report.sections.append(("service log (tail)", tail))
    return report


_COLUMNS = ("requests", "201", "204", "503", "500", "other", "503 window s", "max latency s", "lost")


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault-test figures")
    rows = [
        [str(figures["test"]), *(str(figures.get(column, "")) for column in _COLUMNS)] for figures in FIGURES
    ]
    header = ["test", *_COLUMNS]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    for figures in FIGURES:
        extra = {k: v for k, v in figures.items() if k != "test" and k not in _COLUMNS}
        if extra:
            write(f"{figures['test']}: " + ", ".join(f"{k}={v}" for k, v in extra.items()))
