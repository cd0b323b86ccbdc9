"""create_app has no side effects: apps built in one process keep to their own settings."""

from __future__ import annotations

import logging

from app import create_app
from app.settings import Settings
from tests.support.prometheus import sample

KEY = "k-0123456789abcdef"


def requests_counted(client, status: str) -> float:
    exposition = client.get("/metrics").get_data(as_text=True)
    return sample(
        exposition, "customers_http_requests_total", method="GET", route="/customers", status=status
    )


def test_two_apps_in_one_process_each_follow_their_own_settings(repository):
    guarded = create_app(Settings(api_keys=(KEY,), require_if_match=True), repository).test_client()
    open_ = create_app(Settings(), repository).test_client()
    unmeasured = create_app(Settings(metrics_enabled=False), repository).test_client()

    assert guarded.get("/customers").status_code == 401
    assert open_.get("/customers").status_code == 200
    assert unmeasured.get("/customers").status_code == 200
    location = open_.post("/customers", json={"name": "Ada"}).headers["Location"]
    assert open_.delete(location).status_code == 204
    assert guarded.delete(location, headers={"Authorization": f"Bearer {KEY}"}).status_code == 428

    # Each app counts its own requests, in its own registry; the third has no /metrics at all.
    assert requests_counted(guarded, "401") == 1
    assert requests_counted(guarded, "200") == 0
    assert requests_counted(open_, "200") == 1
    assert requests_counted(open_, "401") == 0
    assert unmeasured.get("/metrics").status_code == 404


def test_building_an_app_starts_nothing_and_leaves_logging_alone(tmp_path):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    app = create_app(Settings(data_dir=tmp_path / "data"))  # the embedded store, not started
    assert app.test_client().get("/healthz").status_code == 200
    assert not (tmp_path / "data").exists(), "no embedded server until a client is built"
    assert (root.handlers, root.level) == (handlers, level)
