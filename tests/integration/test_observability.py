"""Metrics across gunicorn workers, and what the log lines hold."""

from __future__ import annotations

import json

from tests.support.backends import standalone_env
from tests.support.prometheus import sample
from tests.support.service import Http, Service


def test_metrics_add_up_over_every_worker_and_logs_are_json_lines(standalone, tmp_path):
    standalone.client().flushall()
    with Service(standalone_env(standalone), tmp_path / "service.log", workers=4) as service:
        http = Http(service.url)
        for i in range(40):  # sync workers close each connection: these spread over all four
            created = http.post(
                "/customers",
                json={"name": f"Secret Person {i}", "email": f"hidden.mailbox.{i}@example.com"},
                headers={"X-Request-ID": f"trace-{i}"},
            )
            assert created.status_code == 201
        exposition = http.get("/metrics").text
        assert (
            sample(
                exposition, "customers_http_requests_total", method="POST", route="/customers", status="201"
            )
            == 40
        )
        assert 'customers_redis_operation_duration_seconds_count{operation="create"} 40.0' in exposition
        log = service.log()

    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(lines) == len(log.splitlines()), "every log line is a JSON object"
    requests = [line for line in lines if line["logger"] == "gunicorn.access"]
    posts = [r for r in requests if r["method"] == "POST"]
    assert len(posts) == 40
    assert {r["request_id"] for r in posts} == {f"trace-{i}" for i in range(40)}
    assert all(r["route"] == "/customers" and r["status"] == 201 and r["duration_ms"] > 0 for r in posts)
    assert len({r["pid"] for r in posts}) >= 2, "the counts above came from several workers"
    assert "Secret Person" not in log, "no customer data in any log line"
    assert "hidden.mailbox" not in log
