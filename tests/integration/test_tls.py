"""TLS to Redis: verified, with client certificates, and never a silent fallback.

The CRUD, concurrency and reliability tests also run over the TLS-only
cluster (the ``backend`` fixture's ``tls_cluster`` case).
"""

from __future__ import annotations

import subprocess
import sys
import time

from tests.support.backends import tls_cluster_env
from tests.support.redis_servers import free_port
from tests.support.service import REPO, Http, Service, service_environment


def start_and_wait_for_exit(env: dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    env = service_environment({**env, "HOST": "127.0.0.1", "PORT": str(free_port())})
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "wsgi:app"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_service_over_tls_reports_ready(on_tls_cluster):
    assert on_tls_cluster.http.get("/readyz").status_code == 200
    stored = on_tls_cluster.http.post("/customers", json={"name": "Over TLS"}).json()
    assert on_tls_cluster.redis.hget(f"customer:{stored['id']}", "name") == "Over TLS"


def test_a_wrong_ca_stops_the_service_at_start_with_one_clear_line(tls_cluster, certificates):
    env = {**tls_cluster_env(tls_cluster, certificates), "DBTLS_CA_FILE": str(certificates.other_ca)}
    started = time.monotonic()
    result = start_and_wait_for_exit(env)
    assert time.monotonic() - started < 15
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "configuration error: DBTLS_CA_FILE: the database's certificate does not verify" in output
    assert "Traceback" not in output


def test_a_missing_client_certificate_stops_the_service_at_start(tls_cluster, certificates):
    env = tls_cluster_env(tls_cluster, certificates)
    del env["DBTLS_CERT_FILE"], env["DBTLS_KEY_FILE"]
    result = start_and_wait_for_exit(env)
    assert result.returncode != 0
    assert "configuration error: DBTLS: the TLS handshake with the database failed" in result.stderr


def test_tls_to_a_plaintext_server_never_falls_back_to_plaintext(cluster, tmp_path):
    # A plaintext server does not answer a TLS hello: the handshake times out,
    # which looks like an outage, so the service starts and refuses to serve.
    cluster.flushall()
    env = {
        "DBHOST": "127.0.0.1",
        "DBPORT": str(cluster.ports[0]),
        "DBTLS": "true",
        "DB_CONNECT_TIMEOUT": "0.5",
        "DB_SOCKET_TIMEOUT": "0.5",
    }
    with Service(env, tmp_path / "service.log") as service:
        http = Http(service.url)
        assert http.get("/readyz").status_code == 503
        assert http.post("/customers", json={"name": "Plain"}).status_code == 503
    assert list(cluster.client().scan_iter("customer:*")) == []
