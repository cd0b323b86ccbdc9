"""How to reach the database: redis-py's options, from the settings.

Timeouts and a retry policy are always explicit; TLS verification is never
switched off. Both the client (client.py) and the TLS check (tls_check.py)
connect with these.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from app.settings import Settings


def connection_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis`` and ``RedisCluster`` (and their ``from_url``)."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": settings.db_connect_timeout,
        "socket_timeout": settings.db_socket_timeout,
        "retry": retry_policy(),
        "max_connections": settings.db_max_connections,
    }
    if settings.db_username:
        options["username"] = settings.db_username
    if settings.db_password:
        options["password"] = settings.db_password
    if settings.db_host and settings.db_tls:
        options["ssl"] = True
    if uses_tls(settings):
        # Verification is never switched off: a wrong CA fails the connection.
        options["ssl_cert_reqs"] = "required"
        if settings.db_tls_ca_file:
            options["ssl_ca_certs"] = settings.db_tls_ca_file
        if settings.db_tls_cert_file:  # for servers with tls-auth-clients yes
            options["ssl_certfile"] = settings.db_tls_cert_file
            options["ssl_keyfile"] = settings.db_tls_key_file
    return options


def single_node(settings: Settings, **options: Any) -> redis.Redis:
    """A plain client to the configured address (or URL), for one-off probes."""
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, **options)
    return redis.Redis(host=db_host(settings), port=settings.db_port, **options)


def db_host(settings: Settings) -> str:
    """DBHOST, for a client of a configured database without REDIS_URL (where it is always set)."""
    if settings.db_host is None:
        raise ValueError("no database configured: DBHOST and REDIS_URL are unset")
    return settings.db_host


def uses_tls(settings: Settings) -> bool:
    if settings.db_host:
        return settings.db_tls
    return bool(settings.redis_url and settings.redis_url.startswith("rediss://"))


def retry_policy() -> Retry:
    return Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.02), retries=3)
