"""Metrics and structured logs, in one process (multiprocess: tests/integration)."""

from __future__ import annotations

import json
import logging
import sys

from app import create_app
from app.observability.logs import JsonFormatter
from app.settings import Settings
from tests.support.prometheus import sample


def test_requests_are_counted_by_route_template_and_status(client):
    before = client.get("/metrics").get_data(as_text=True)
    created = client.post("/customers", json={"name": "Ada"})
    client.get(created.headers["Location"])
    client.get("/customers/00000000-0000-4000-8000-000000000000")
    after = client.get("/metrics").get_data(as_text=True)
    route = "/customers/<customer_id>"
    for method, path, status in (("POST", "/customers", "201"), ("GET", route, "200"), ("GET", route, "404")):
        delta = sample(
            after, "customers_http_requests_total", method=method, route=path, status=status
        ) - sample(before, "customers_http_requests_total", method=method, route=path, status=status)
        assert delta == 1, (method, path, status)
    assert "customers/0000" not in after, "labels are route templates, never ids"


def test_a_405_is_counted_under_the_route_it_was_sent_to(client):
    def count(route: str) -> float:
        exposition = client.get("/metrics").get_data(as_text=True)
        return sample(exposition, "customers_http_requests_total", method="DELETE", route=route, status="405")

    before = count("/customers"), count("unmatched")
    assert client.delete("/customers").status_code == 405
    assert (count("/customers"), count("unmatched")) == (before[0] + 1, before[1])


def test_metrics_content_type_has_one_charset(client):
    response = client.get("/metrics")
    assert response.headers["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"


def test_domain_events_are_counted(client):
    before = client.get("/metrics").get_data(as_text=True)
    for _ in range(2):
        client.post("/customers", json={"name": "Ada"}, headers={"Idempotency-Key": "metrics-test"})
    after = client.get("/metrics").get_data(as_text=True)
    replays = sample(after, "customers_events_total", event="idempotent_replay")
    assert replays - sample(before, "customers_events_total", event="idempotent_replay") == 1


def test_metrics_can_be_switched_off_or_put_behind_the_api_key(repository):
    off = create_app(Settings(metrics_enabled=False), repository).test_client()
    assert off.get("/metrics").status_code == 404
    key = "metrics-key-0123456789"
    guarded = create_app(Settings(api_keys=(key,), metrics_require_api_key=True), repository).test_client()
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    open_ = create_app(Settings(api_keys=(key,)), repository).test_client()
    assert open_.get("/metrics").status_code == 200


def test_a_log_record_is_one_json_line_even_with_a_traceback():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert entry["message"] == "failed x"
    assert "RuntimeError: boom" in entry["exception"]


def test_a_log_line_stays_one_json_line_with_text_that_is_not_unicode():
    # A lone surrogate (from a client's \udXXX escape) cannot be UTF-8: it is escaped, not lost.
    record = logging.LogRecord("app", logging.WARNING, __file__, 1, "bad \udc80 text", None, None)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["message"] == "bad \udc80 text"
    line.encode()  # writable to a UTF-8 stream
