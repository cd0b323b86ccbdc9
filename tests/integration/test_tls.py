"""TLS to Redis: verified, with client certificates, and never a silent fallback.

The CRUD, concurrency and reliability tests also run over the TLS-only
cluster (the ``backend`` fixture's ``tls_cluster`` case); TLS to a plain-text
server is in test_tls_plaintext.py.
"""

from __future__ import annotations

import time

from tests.support.backends import tls_cluster_env
from tests.support.service import start_and_wait_for_exit


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
