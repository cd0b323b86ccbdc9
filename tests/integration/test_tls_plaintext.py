"""DBHOST without DBTLS=false: TLS to a plain-text server (issue 10).

A plain-text Redis never completes the handshake; the service must say so,
within one connect timeout, and never call an outage a plain-text server.
TLS is still never given up for plain text: nothing is served or written.
"""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from tests.support.figures import record
from tests.support.redis_servers import StandaloneRedis, free_port
from tests.support.service import (
    Http,
    Service,
    run_customers,
    start_and_wait_for_exit,
)

CONNECT_TIMEOUT = 1.0
# Time a request may take beyond the connect timeout: Flask, gunicorn, a busy CI box.
MARGIN = 1.0
TLS_MESSAGE = (
    "did not complete a TLS handshake and answers in plain text; for a plain-text server set DBTLS=false"
)


def forgot_dbtls(port: int) -> dict[str, str]:
    """The mistake: DBHOST set and DBTLS left to its default (true).

    The socket timeout is longer than the connect timeout on purpose: the
    handshake must be bounded by the connect timeout.
    """
    return {
        "DBHOST": "127.0.0.1",
        "DBPORT": str(port),
        "DB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "DB_SOCKET_TIMEOUT": "3",
    }


def check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_customers(env, "check-config")


@pytest.fixture(params=["standalone", "cluster"])
def plaintext_port(request) -> int:
    """The port of a real plain-text server: a standalone Redis or a 6-node cluster's first node."""
    server = request.getfixturevalue(request.param)
    return server.port if request.param == "standalone" else server.ports[0]


@pytest.fixture(params=["nothing-listens", "silent-listener"])
def no_redis_port(request):
    """A port with no server, or one whose listener accepts (in the kernel) and never answers."""
    if request.param == "nothing-listens":
        yield free_port()
        return
    with socket.create_server(("127.0.0.1", 0), backlog=128) as listener:
        yield listener.getsockname()[1]


def test_check_config_names_tls_against_a_plaintext_server(plaintext_port):
    result = check_config(forgot_dbtls(plaintext_port))
    assert result.returncode != 0
    assert f"PROBLEM: DBTLS: the server at 127.0.0.1:{plaintext_port} {TLS_MESSAGE}" in result.stdout
    assert "Traceback" not in result.stderr


def test_the_service_refuses_to_start_against_a_plaintext_server(plaintext_port):
    result = start_and_wait_for_exit(forgot_dbtls(plaintext_port))
    assert result.returncode != 0
    assert f"configuration error: DBTLS: the server at 127.0.0.1:{plaintext_port} {TLS_MESSAGE}" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_a_plaintext_server_met_after_start_gets_prompt_503s_that_name_tls(tmp_path):
    database = StandaloneRedis(tmp_path / "redis")  # nothing listens yet, so the service starts
    with Service(forgot_dbtls(database.port), tmp_path / "service.log") as service, database:
        http = Http(service.url)
        for method, path in (("GET", "/readyz"), ("POST", "/customers")):
            started = time.monotonic()
            response = http.request(method, path, json={"name": "Plain"})
            elapsed = time.monotonic() - started
            record("TLS to plain text", f"{method} {path}: 503 in {elapsed:.2f} s (connect timeout 1 s)")
            assert response.status_code == 503
            assert response.headers["Content-Type"] == "application/problem+json"
            assert elapsed < CONNECT_TIMEOUT + MARGIN, f"{method} {path} took {elapsed:.2f} s"
        assert list(database.client().scan_iter("customer:*")) == []
        log = service.log()
    assert f"database unavailable (request {response.headers['X-Request-ID']}): DBTLS:" in log
    assert TLS_MESSAGE in log


def test_no_server_is_an_outage_not_a_plaintext_server(no_redis_port, tmp_path):
    env = {**forgot_dbtls(no_redis_port), "DB_CONNECT_TIMEOUT": "0.5", "DB_SOCKET_TIMEOUT": "0.5"}
    result = check_config(env)
    assert result.returncode != 0
    assert "PROBLEM: cannot use the database" in result.stdout
    with Service(env, tmp_path / "service.log") as service:  # an outage does not stop the start
        assert Http(service.url).get("/readyz").status_code == 503
        log = service.log()
    for output in (result.stdout, log):
        assert "TLS handshake" not in output
        assert "plain text" not in output
