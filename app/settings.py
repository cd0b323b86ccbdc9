"""Configuration: every environment variable, declared once.

Each field of ``Settings`` is one variable: name, kind, default, secret or
not, and meaning (``declare``, app/variables.py). Reading the environment
(``from_env``), check-config's listing (``describe``), the names the test
helpers strip (``VARIABLE_NAMES``) and the README's table (app/settings_table.py)
all derive from it. The only module that reads ``os.environ``; a bad value
raises a one-line ``ConfigError`` naming the variable, never a secret's value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import kinds
from app.kinds import ConfigError
from app.variables import declare, declared, describe, read

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["VARIABLE_NAMES", "ConfigError", "Settings", "settings_of"]

SETTINGS_EXTENSION = "customers.settings"


def _two_per_core() -> int:
    # Two sync workers per core measured best on 2 cores (docs/performance.md).
    return 2 * (os.cpu_count() or 2)


@dataclass(frozen=True)
class Settings:
    host: str = declare("HOST", kinds.text(), "address gunicorn listens on", "0.0.0.0")
    port: int = declare("PORT", kinds.integer(1, 65535), "port gunicorn listens on", 8080)
    web_concurrency: int = declare(
        "WEB_CONCURRENCY",
        kinds.integer(1, 256),
        "gunicorn worker processes (sync)",
        factory=_two_per_core,
        default_text="2 per CPU core",
    )
    db_host: str | None = declare(
        "DBHOST", kinds.text(), "Redis or MemoryDB endpoint (for a cluster: its configuration endpoint)"
    )
    db_port: int = declare("DBPORT", kinds.integer(1, 65535), "its port", 6379)
    db_username: str | None = declare("DBUSERNAME", kinds.text(), "ACL user name")
    db_password: str | None = declare("DBPASSWORD", kinds.text(), "its password", secret=True)
    redis_url: str | None = declare(
        "REDIS_URL",
        kinds.redis_url(),
        "instead of `DBHOST`…; check-config shows only its scheme, host and port",
        secret=True,
        show=kinds.without_secrets,
    )
    # MemoryDB only speaks TLS, so a named host means TLS unless told otherwise.
    db_tls: bool = declare(
        "DBTLS",
        kinds.boolean(),
        "TLS to Redis (MemoryDB requires it); `false` for a local plain cluster",
        False,
        derive=lambda earlier: earlier["db_host"] is not None,
        default_text="`true` when `DBHOST` is set",
    )
    db_tls_ca_file: str | None = declare(
        "DBTLS_CA_FILE",
        kinds.existing_file(),
        "CA bundle that signs the server certificate; verification is never turned off",
        default_text="system CAs",
        unset="(system CAs)",
    )
    db_tls_cert_file: str | None = declare(
        "DBTLS_CERT_FILE",
        kinds.existing_file(),
        "client certificate, for servers with `tls-auth-clients yes`",
    )
    db_tls_key_file: str | None = declare(
        "DBTLS_KEY_FILE", kinds.existing_file(), "its key: set both `DBTLS_CERT_FILE` and this, or neither"
    )
    redis_cluster: str = declare(
        "REDIS_CLUSTER",
        kinds.choice("auto", "true", "false"),
        "`auto` asks the server (`INFO cluster`); `true` cluster client; `false` standalone client",
        "auto",
    )
    db_connect_timeout: float = declare(
        "DB_CONNECT_TIMEOUT", kinds.seconds(300), "time to open a connection to Redis", 2.0
    )
    db_socket_timeout: float = declare(
        "DB_SOCKET_TIMEOUT", kinds.seconds(300), "time to wait for a reply", 2.0
    )
    db_max_connections: int = declare(
        "DB_MAX_CONNECTIONS", kinds.integer(1, 10_000), "connection pool size per worker (per node)", 64
    )
    db_wait_replicas: int = declare(
        "DB_WAIT_REPLICAS",
        kinds.integer(0, 16),
        "acknowledge a write only once this many replicas of its shard have it (`WAIT`)",
        0,
    )
    db_wait_timeout_ms: int = declare(
        "DB_WAIT_TIMEOUT_MS", kinds.integer(1, 60_000), "how long a write waits for them before a 503", 500
    )
    unique_emails: bool = declare(
        "UNIQUE_EMAILS",
        kinds.boolean(),
        "`true`: an email (any case) belongs to one customer at most; others get 409 "
        "(first run `flask customers duplicates`)",
        False,
    )
    require_if_match: bool = declare(
        "REQUIRE_IF_MATCH", kinds.boolean(), "`true`: writes without `If-Match` are refused with 428", False
    )
    events_enabled: bool = declare(
        "EVENTS_ENABLED",
        kinds.boolean(),
        "record every change as an event and serve the feed at `/events` (`false`: 404)",
        True,
    )
    events_retention_hours: float = declare(
        "EVENTS_RETENTION_HOURS",
        kinds.hours(24 * 366),
        "how long the feed keeps an event (fractions allowed)",
        168.0,
    )
    api_keys: tuple[str, ...] = declare(
        "API_KEYS",
        kinds.api_keys(),
        "when set, `/customers` needs `Authorization: Bearer <key>`",
        (),
        secret=True,
        show=lambda keys: f"{len(keys)} keys (hidden)",
        unset="(unset: API open)",
    )
    api_keys_file: Path | None = declare(
        "API_KEYS_FILE", kinds.path(), "instead of `API_KEYS`: a file, one key per line (`#` comments)"
    )
    metrics_enabled: bool = declare(
        "METRICS_ENABLED", kinds.boolean(), "serve Prometheus metrics at `/metrics`, time every request", True
    )
    metrics_require_api_key: bool = declare(
        "METRICS_REQUIRE_API_KEY",
        kinds.boolean(),
        "`true`: `/metrics` needs a key too (with `API_KEYS`)",
        False,
    )
    # prometheus-client's own variable: gunicorn.conf.py sets it for the workers.
    metrics_multiprocess_dir: Path | None = declare(
        "PROMETHEUS_MULTIPROC_DIR",
        kinds.path(),
        "where gunicorn's workers keep their metrics; set it only to choose the place",
        default_text="a fresh directory in `/dev/shm`, removed at exit",
    )
    data_dir: Path = declare(
        "DATA_DIR", kinds.path(), "the embedded store's data (without `DBHOST` and `REDIS_URL`)", Path("var")
    )
    log_level: str = declare(
        "LOG_LEVEL", kinds.choice("DEBUG", "INFO", "WARNING", "ERROR"), "the service's own log lines", "INFO"
    )

    @property
    def embedded(self) -> bool:
        """True when no database is configured: serve from the embedded store."""
        return self.redis_url is None and self.db_host is None

    @property
    def database_label(self) -> str:
        """Where the data lives, for log lines: never contains a secret."""
        if self.embedded:
            return f"embedded store in {self.data_dir.resolve()}"
        if self.redis_url:
            return kinds.without_secrets(self.redis_url)
        scheme = "rediss" if self.db_tls else "redis"
        return f"{scheme}://{self.db_host}:{self.db_port}"

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) for display: secrets are masked."""
        return describe(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment)."""
        values = read(cls, os.environ if environ is None else environ)
        return cls(**_cross_checked(values))


def _cross_checked(values: dict[str, Any]) -> dict[str, Any]:
    """The rules between variables; the keys of ``API_KEYS_FILE`` become ``api_keys``."""
    if values["db_host"] and values["redis_url"]:
        raise ConfigError("REDIS_URL: set either REDIS_URL or DBHOST, not both")
    if bool(values["db_tls_cert_file"]) != bool(values["db_tls_key_file"]):
        raise ConfigError("DBTLS_CERT_FILE: set both DBTLS_CERT_FILE and DBTLS_KEY_FILE, or neither")
    keys_file: Path | None = values["api_keys_file"]
    if keys_file and values["api_keys"]:
        raise ConfigError("API_KEYS: set either API_KEYS or API_KEYS_FILE, not both")
    if keys_file:
        values["api_keys"] = kinds.read_api_keys(keys_file)
    return values


VARIABLE_NAMES = tuple(variable.name for _, variable in declared(Settings))


def settings_of(app: Flask) -> Settings:
    """The settings ``app`` was built with (in a request: ``settings_of(current_app)``)."""
    settings: Settings = app.extensions[SETTINGS_EXTENSION]
    return settings
