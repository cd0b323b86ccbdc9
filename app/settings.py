"""Configuration, read once from the environment.

This is the only module that reads ``os.environ``. Every variable is listed,
with its default, in the README's configuration table. A bad value raises
``ConfigError`` whose message is one line naming the variable, and never the
value of a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from flask import Flask


SETTINGS_EXTENSION = "customers.settings"


def settings_of(app: Flask) -> Settings:
    """The settings ``app`` was built with (in a request: ``settings_of(current_app)``)."""
    settings: Settings = app.extensions[SETTINGS_EXTENSION]
    return settings


class ConfigError(ValueError):
    """A configuration variable is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8080
    web_concurrency: int = 4
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    db_host: str | None = None
    db_port: int = 6379
    db_username: str | None = None
    db_password: str | None = field(default=None, repr=False)
    db_tls: bool = False
    db_tls_ca_file: str | None = None
    db_tls_cert_file: str | None = None
    db_tls_key_file: str | None = None
    redis_cluster: str = "auto"
    db_connect_timeout: float = 2.0
    db_socket_timeout: float = 2.0
    db_max_connections: int = 64
    db_wait_replicas: int = 0
    db_wait_timeout_ms: int = 500
    require_if_match: bool = False
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    metrics_enabled: bool = True
    metrics_require_api_key: bool = False
    metrics_multiprocess_dir: Path | None = None
    data_dir: Path = Path("var")
    log_level: str = "INFO"

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
            parts = urlsplit(self.redis_url)
            return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"
        scheme = "rediss" if self.db_tls else "redis"
        return f"{scheme}://{self.db_host}:{self.db_port}"

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) for display: secrets are masked."""

        def secret(value: object) -> str:
            return "(set, hidden)" if value else "(unset)"

        return [
            ("HOST", self.host),
            ("PORT", str(self.port)),
            ("WEB_CONCURRENCY", str(self.web_concurrency)),
            ("DBHOST", self.db_host or "(unset)"),
            ("DBPORT", str(self.db_port)),
            ("DBUSERNAME", self.db_username or "(unset)"),
            ("DBPASSWORD", secret(self.db_password)),
            ("REDIS_URL", self.database_label if self.redis_url else "(unset)"),
            ("DBTLS", str(self.db_tls).lower()),
            ("DBTLS_CA_FILE", self.db_tls_ca_file or "(system CAs)"),
            ("DBTLS_CERT_FILE", self.db_tls_cert_file or "(unset)"),
            ("DBTLS_KEY_FILE", self.db_tls_key_file or "(unset)"),
            ("REDIS_CLUSTER", self.redis_cluster),
            ("DB_CONNECT_TIMEOUT", str(self.db_connect_timeout)),
            ("DB_SOCKET_TIMEOUT", str(self.db_socket_timeout)),
            ("DB_MAX_CONNECTIONS", str(self.db_max_connections)),
            ("DB_WAIT_REPLICAS", str(self.db_wait_replicas)),
            ("DB_WAIT_TIMEOUT_MS", str(self.db_wait_timeout_ms)),
            ("REQUIRE_IF_MATCH", str(self.require_if_match).lower()),
            ("API_KEYS", f"{len(self.api_keys)} keys (hidden)" if self.api_keys else "(unset: API open)"),
            ("DATA_DIR", str(self.data_dir)),
            ("LOG_LEVEL", self.log_level),
        ]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment)."""
        env = _Reader(os.environ if environ is None else environ)
        db_host = env.text("DBHOST")
        redis_url = env.text("REDIS_URL")
        if db_host and redis_url:
            raise ConfigError("REDIS_URL: set either REDIS_URL or DBHOST, not both")
        if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss"):
            raise ConfigError("REDIS_URL: must start with redis:// or rediss://")
        ca_file, cert_file, key_file = (
            env.file(name) for name in ("DBTLS_CA_FILE", "DBTLS_CERT_FILE", "DBTLS_KEY_FILE")
        )
        if bool(cert_file) != bool(key_file):
            raise ConfigError("DBTLS_CERT_FILE: set both DBTLS_CERT_FILE and DBTLS_KEY_FILE, or neither")
        return cls(
            api_keys=_api_keys(env),
            host=env.text("HOST") or cls.host,
            port=env.integer("PORT", cls.port, 1, 65535),
            # Two sync workers per core measured best on 2 cores (README, Performance).
            web_concurrency=env.integer("WEB_CONCURRENCY", 2 * (os.cpu_count() or 2), 1, 256),
            redis_url=redis_url,
            db_host=db_host,
            db_port=env.integer("DBPORT", cls.db_port, 1, 65535),
            db_username=env.text("DBUSERNAME"),
            db_password=env.text("DBPASSWORD"),
            # MemoryDB only speaks TLS, so a named host means TLS unless told otherwise.
            db_tls=env.boolean("DBTLS", default=db_host is not None),
            db_tls_ca_file=ca_file,
            db_tls_cert_file=cert_file,
            db_tls_key_file=key_file,
            redis_cluster=env.choice("REDIS_CLUSTER", "auto", ("auto", "true", "false")),
            db_connect_timeout=env.seconds("DB_CONNECT_TIMEOUT", cls.db_connect_timeout),
            db_socket_timeout=env.seconds("DB_SOCKET_TIMEOUT", cls.db_socket_timeout),
            db_max_connections=env.integer("DB_MAX_CONNECTIONS", cls.db_max_connections, 1, 10_000),
            db_wait_replicas=env.integer("DB_WAIT_REPLICAS", cls.db_wait_replicas, 0, 16),
            db_wait_timeout_ms=env.integer("DB_WAIT_TIMEOUT_MS", cls.db_wait_timeout_ms, 1, 60_000),
            require_if_match=env.boolean("REQUIRE_IF_MATCH", default=False),
            metrics_enabled=env.boolean("METRICS_ENABLED", default=True),
            metrics_require_api_key=env.boolean("METRICS_REQUIRE_API_KEY", default=False),
            # prometheus-client's own variable: gunicorn.conf.py sets it for the workers.
            metrics_multiprocess_dir=_optional_path(env.text("PROMETHEUS_MULTIPROC_DIR")),
            data_dir=Path(env.text("DATA_DIR") or cls.data_dir),
            log_level=env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        )


def _optional_path(text: str | None) -> Path | None:
    return Path(text) if text else None


_API_KEY = re.compile(r"^[A-Za-z0-9._~+/=-]{16,256}$")


def _api_keys(env: _Reader) -> tuple[str, ...]:
    inline, path = env.text("API_KEYS"), env.text("API_KEYS_FILE")
    if inline and path:
        raise ConfigError("API_KEYS: set either API_KEYS or API_KEYS_FILE, not both")
    if path:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as error:
            raise ConfigError(f"API_KEYS_FILE: cannot read {path}: {error.strerror}") from None
        keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        name = "API_KEYS_FILE"
    else:
        keys = [key.strip() for key in (inline or "").split(",") if key.strip()]
        name = "API_KEYS"
    for number, key in enumerate(keys, 1):
        if not _API_KEY.match(key):
            # Never echo the key: say which one, and what is wrong.
            raise ConfigError(f"{name}: key {number} must be 16-256 characters of A-Z a-z 0-9 . _ ~ + / = -")
    if (path or inline) and not keys:
        raise ConfigError(f"{name}: no keys found")
    return tuple(keys)


class _Reader:
    """Typed access to string variables; errors name the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def file(self, name: str) -> str | None:
        path = self.text(name)
        if path and not Path(path).is_file():
            raise ConfigError(f"{name}: no such file: {path}")
        return path

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}: must be between {low} and {high}, got {value}")
        return value

    def seconds(self, name: str, default: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
        if not 0 < value <= 300:
            raise ConfigError(f"{name}: must be more than 0 and at most 300 seconds")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        value = raw.upper() if default.isupper() else raw.lower()
        if value not in allowed:
            raise ConfigError(f"{name}: expected one of {', '.join(allowed)}, got {raw!r}")
        return value
