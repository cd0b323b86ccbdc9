"""API keys: who gets in, what they see when they do not, what is never shown."""

from __future__ import annotations

import logging

import pytest
import redis

from app import create_app
from app.settings import ConfigError, Settings

KEY = "k-0123456789abcdef"
OTHER = "k-fedcba9876543210"


@pytest.fixture
def client(repository):
    return create_app(Settings(api_keys=(KEY, OTHER)), repository).test_client()


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong-key-wrong-key"),
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": KEY},
        bearer(""),
    ],
)
def test_customer_routes_need_a_valid_key(client, headers):
    for method, path in (
        ("get", "/customers"),
        ("post", "/customers"),
        ("get", "/customers/00000000-0000-4000-8000-000000000000"),
    ):
        response = getattr(client, method)(path, json={"name": "A"}, headers=headers)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["X-Request-ID"]


def test_every_configured_key_works(client):
    for key in (KEY, OTHER):
        assert client.post("/customers", json={"name": "A"}, headers=bearer(key)).status_code == 201
        assert client.get("/customers", headers=bearer(key)).status_code == 200


def test_health_probes_stay_open(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_idempotency_keys_are_scoped_per_api_key(client):
    body = {"name": "Same"}
    first = client.post("/customers", json=body, headers={**bearer(KEY), "Idempotency-Key": "k1"})
    second = client.post("/customers", json=body, headers={**bearer(OTHER), "Idempotency-Key": "k1"})
    again = client.post("/customers", json=body, headers={**bearer(KEY), "Idempotency-Key": "k1"})
    assert first.get_json()["id"] != second.get_json()["id"]
    assert again.get_json()["id"] == first.get_json()["id"]


def test_keys_are_never_logged(repository, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    client = create_app(Settings(api_keys=(KEY,)), repository).test_client()
    client.get("/customers", headers=bearer(KEY))
    client.get("/customers", headers=bearer("not-the-key-at-all"))

    def unavailable(*args, **kwargs):
        raise redis.ConnectionError("connection refused")

    # A request the service does log (a 503, with its request id), sent with the key.
    monkeypatch.setattr(repository, "get", unavailable)
    assert (
        client.get("/customers/00000000-0000-4000-8000-000000000000", headers=bearer(KEY)).status_code == 503
    )
    assert "database unavailable" in caplog.text, "the app's log records reach caplog"
    assert KEY not in caplog.text
    assert "not-the-key-at-all" not in caplog.text


def test_keys_from_a_file(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2026-11\n{KEY}\n\n{OTHER}\n")
    assert Settings.from_env({"API_KEYS_FILE": str(path)}).api_keys == (KEY, OTHER)
    assert Settings.from_env({"API_KEYS": f"{KEY}, {OTHER}"}).api_keys == (KEY, OTHER)


@pytest.mark.parametrize(
    "environ",
    [
        {"API_KEYS": "short"},
        {"API_KEYS": f"{KEY},with space in it!!"},
        {"API_KEYS": KEY, "API_KEYS_FILE": "/etc/hostname"},
        {"API_KEYS_FILE": "/nonexistent/keys"},
    ],
)
def test_bad_keys_fail_at_start_without_echoing_them(environ):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    assert "with space" not in str(caught.value)
    assert str(caught.value).split(":")[0] in ("API_KEYS", "API_KEYS_FILE")


def test_settings_repr_hides_keys():
    assert KEY not in repr(Settings.from_env({"API_KEYS": KEY}))
