"""Configuration from the environment: defaults, the sample's variables, clear failures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from app.settings import VARIABLE_NAMES, ConfigError, Settings
from app.settings_table import END, START, markdown_table


def test_no_database_configured_means_embedded_on_port_8080():
    settings = Settings.from_env({})
    assert settings.embedded
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.data_dir == Path("var")


def test_the_samples_variables_still_work():
    settings = Settings.from_env(
        {
            "HOST": "127.0.0.1",
            "PORT": "5000",
            "DBHOST": "clustercfg.example.memorydb.amazonaws.com",
            "DBPORT": "6380",
            "DBUSERNAME": "app",
            "DBPASSWORD": "s3cret",
        }
    )
    assert not settings.embedded
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    assert (settings.db_host, settings.db_port) == ("clustercfg.example.memorydb.amazonaws.com", 6380)
    assert (settings.db_username, settings.db_password) == ("app", "s3cret")
    assert settings.db_tls, "MemoryDB speaks only TLS, so DBHOST implies TLS"


def test_tls_can_be_turned_off_for_a_local_cluster():
    assert not Settings.from_env({"DBHOST": "127.0.0.1", "DBTLS": "false"}).db_tls


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DBHOST": "h", "DBPORT": "0"}, "DBPORT"),
        ({"DBHOST": "h", "DBTLS": "maybe"}, "DBTLS"),
        ({"REDIS_URL": "http://h:1"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://h:1", "DBHOST": "h"}, "REDIS_URL"),
        ({"REDIS_CLUSTER": "sometimes"}, "REDIS_CLUSTER"),
        ({"DB_SOCKET_TIMEOUT": "-1"}, "DB_SOCKET_TIMEOUT"),
        ({"DBTLS_CA_FILE": "/nonexistent/ca.pem"}, "DBTLS_CA_FILE"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_variable(environ, variable):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    message = str(caught.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message


def test_the_database_label_never_shows_the_password():
    settings = Settings.from_env({"REDIS_URL": "rediss://app:s3cret@cache.internal:6380"})
    assert settings.database_label == "rediss://cache.internal:6380"
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in repr(Settings.from_env({"DBHOST": "h", "DBPASSWORD": "s3cret"}))


def test_the_readme_table_is_the_one_the_declarations_generate():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    _, start, rest = readme.partition(START + "\n")
    table, end, _ = rest.partition(END)
    assert start, "the README keeps the table between the settings-table markers"
    assert end, "the README keeps the table between the settings-table markers"
    assert table == markdown_table(), "run: python -m app.settings_table, and paste it into the README"


def test_every_field_is_a_declared_variable_and_check_config_lists_each():
    names = [field.name for field in dataclasses.fields(Settings)]
    assert len(VARIABLE_NAMES) == len(names) == len(set(VARIABLE_NAMES))
    assert [name for name, _ in Settings().describe()] == list(VARIABLE_NAMES)
    assert {"METRICS_ENABLED", "METRICS_REQUIRE_API_KEY", "API_KEYS_FILE"} <= set(VARIABLE_NAMES)


def test_check_config_never_shows_a_secret():
    settings = Settings.from_env(
        {"REDIS_URL": "rediss://app:s3cret-pass@cache.internal:6380", "API_KEYS": "k-0123456789abcdef"}
    )
    shown = dict(settings.describe())
    assert shown["REDIS_URL"] == "rediss://cache.internal:6380"
    assert shown["API_KEYS"] == "1 keys (hidden)"
    assert "s3cret" not in str(shown)
    assert "k-0123456789abcdef" not in str(shown)
    assert dict(Settings(db_password="s3cret").describe())["DBPASSWORD"] == "(set, hidden)"
