"""Build the Redis client the repository talks through.

One client per process, built lazily on first use: gunicorn forks its workers,
and a connection pool must never be shared across a fork.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from app.ops import embedded
from app.settings import Settings
from app.store import plaintext

Client = redis.Redis | RedisCluster


def build_client(settings: Settings) -> Client:
    """Return a standalone or cluster client as the settings describe."""
    if settings.embedded:
        return redis.Redis(
            unix_socket_path=str(embedded.socket_path(settings.data_dir)),
            decode_responses=True,
            socket_timeout=settings.db_socket_timeout,
            retry=_retry_policy(),
            max_connections=settings.db_max_connections,
        )
    # A handshake that can never succeed would otherwise be retried like an
    # outage (DB_CONNECT_TIMEOUT per attempt) and reported as a bare timeout.
    check_tls(settings)
    options = _connection_options(settings)
    if _wants_cluster(settings, options):
        # Topology changes (failover, resharding) surface as MOVED/ASK or as
        # connection errors on one node; the cluster client re-reads the slot
        # map and retries with this policy.
        if settings.redis_url:
            return RedisCluster.from_url(settings.redis_url, **options)
        return RedisCluster(host=settings.db_host, port=settings.db_port, **options)
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, **options)
    return redis.Redis(host=settings.db_host, port=settings.db_port, **options)


def _connection_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": settings.db_connect_timeout,
        "socket_timeout": settings.db_socket_timeout,
        "retry": _retry_policy(),
        "max_connections": settings.db_max_connections,
    }
    if settings.db_username:
        options["username"] = settings.db_username
    if settings.db_password:
        options["password"] = settings.db_password
    if settings.db_host and settings.db_tls:
        options["ssl"] = True
    if _uses_tls(settings):
        # Verification is never switched off: a wrong CA fails the connection.
        options["ssl_cert_reqs"] = "required"
        if settings.db_tls_ca_file:
            options["ssl_ca_certs"] = settings.db_tls_ca_file
        if settings.db_tls_cert_file:  # for servers with tls-auth-clients yes
            options["ssl_certfile"] = settings.db_tls_cert_file
            options["ssl_keyfile"] = settings.db_tls_key_file
    return options


class TlsError(redis.ConnectionError):
    """TLS to the database can never work as configured: a fault of configuration.

    A ConnectionError, so that a request meeting it answers 503 (app/api/errors.py)
    and the log line says why.
    """


def check_tls(settings: Settings) -> None:
    """Fail fast on a TLS handshake that can never succeed (wrong CA, plain-text server).

    An unreachable database is not an error here: the service starts and
    answers 503 until it is back. One attempt and no retries, so a plain-text
    server costs one DB_CONNECT_TIMEOUT, not one per retry.
    """
    if settings.embedded or not _uses_tls(settings):
        return
    host, port = _address(settings)
    # Opened before the handshake and left unused: if TLS fails, it asks in plain text.
    plain = plaintext.connect(host, port, settings.db_connect_timeout)
    if plain is None:
        return  # nothing listens: an outage, which requests report as 503
    with plain:
        cause = _tls_failure(settings)
        if cause is None:
            return
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise TlsError(
                f"DBTLS_CA_FILE: the database's certificate does not verify: {cause.verify_message}"
            )
        if plaintext.answers_ping(plain):
            name, fix = ("REDIS_URL", "use redis://") if settings.redis_url else ("DBTLS", "set DBTLS=false")
            raise TlsError(
                f"{name}: the server at {host}:{port} did not complete a TLS handshake and answers "
                f"in plain text; for a plain-text server {fix}"
            )
        if isinstance(cause, ssl.SSLError):
            raise TlsError(f"DBTLS: the TLS handshake with the database failed: {cause.reason}")


def _tls_failure(settings: Settings) -> OSError | None:
    """PING once over TLS: the socket-level error met (handshake, reset), if any."""
    # redis-py runs the handshake under socket_timeout: bound it by the connect timeout.
    options = {
        **_connection_options(settings),
        "retry": None,
        "socket_timeout": settings.db_connect_timeout,
    }
    options.pop("max_connections")
    if settings.redis_url:
        probe = redis.Redis.from_url(settings.redis_url, **options)
    else:
        probe = redis.Redis(host=settings.db_host, port=settings.db_port, **options)
    try:
        probe.ping()
    except redis.RedisError as error:
        # Anything else (NOAUTH, WRONGPASS...) came from a server that spoke TLS.
        return error.__context__ if isinstance(error.__context__, OSError) else None
    finally:
        probe.close()
    return None


def _address(settings: Settings) -> tuple[str, int]:
    if settings.redis_url:
        parts = urlsplit(settings.redis_url)
        return parts.hostname or "localhost", parts.port or 6379
    return settings.db_host or "localhost", settings.db_port


def _uses_tls(settings: Settings) -> bool:
    if settings.db_host:
        return settings.db_tls
    return bool(settings.redis_url and settings.redis_url.startswith("rediss://"))


def _retry_policy() -> Retry:
    return Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.02), retries=3)


def _wants_cluster(settings: Settings, options: dict[str, Any]) -> bool:
    if settings.redis_cluster != "auto":
        return settings.redis_cluster == "true"
    probe_options = {k: v for k, v in options.items() if k != "max_connections"}
    if settings.redis_url:
        probe = redis.Redis.from_url(settings.redis_url, **probe_options)
    else:
        probe = redis.Redis(host=settings.db_host, port=settings.db_port, **probe_options)
    try:
        return str(probe.info("cluster").get("cluster_enabled")) == "1"
    finally:
        probe.close()
