"""What a client sees when the database is not there."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.support.redis_servers import StandaloneRedis, free_port
from tests.support.service import REPO, Http, Service, service_environment


def test_unreachable_database_gives_503_problems_quickly(tmp_path):
    env = {
        "DBHOST": "127.0.0.1",
        "DBPORT": str(free_port()),
        "DBTLS": "false",
        "REDIS_CLUSTER": "true",
        "DB_CONNECT_TIMEOUT": "0.5",
        "DB_SOCKET_TIMEOUT": "0.5",
    }
    with Service(env, tmp_path / "service.log") as service:
        http = Http(service.url)
        assert http.get("/healthz").status_code == 200
        for path in ("/readyz", "/customers", "/customers/00000000-0000-4000-8000-000000000000"):
            started = time.monotonic()
            response = http.get(path)
            assert time.monotonic() - started < 10
            assert response.status_code == 503
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.headers["Retry-After"]
            assert "Traceback" not in response.text
            assert str(env["DBPORT"]) not in response.text
        log = service.log()
    assert "Traceback" not in log


def test_container_healthcheck_probes_the_configured_port(on_standalone):
    def probe(port):
        env = service_environment({"PORT": str(port)})
        return subprocess.run(
            [sys.executable, "-m", "app.ops.healthcheck"],
            cwd=REPO,
            env=env,
            capture_output=True,
            timeout=10,
            check=False,
        ).returncode

    assert probe(on_standalone.service.port) == 0
    assert probe(free_port()) == 1


def test_a_service_started_before_its_database_recovers_by_itself(tmp_path):
    database = StandaloneRedis(tmp_path / "redis")  # its port is chosen, nothing listens yet
    env = {"REDIS_URL": database.url, "DB_CONNECT_TIMEOUT": "0.5", "DB_SOCKET_TIMEOUT": "0.5"}
    with Service(env, tmp_path / "service.log") as service:
        http = Http(service.url)
        assert http.get("/readyz").status_code == 503
        assert http.post("/customers", json={"name": "Early"}).status_code == 503
        with database.start():
            assert http.get("/readyz").status_code == 200
            created = http.post("/customers", json={"name": "On time"})
            assert created.status_code == 201
            assert http.get(created.headers["Location"]).status_code == 200
        # And down again: 503, not 500, and no hang.
        assert http.get("/readyz").status_code == 503
