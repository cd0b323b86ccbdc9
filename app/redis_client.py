"""Build the Redis client the repository talks through.

One client per process, built lazily on first use: gunicorn forks its workers,
and a connection pool must never be shared across a fork.
"""

from __future__ import annotations

import ssl
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from app import embedded
from app.settings import Settings

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


class TlsError(RuntimeError):
    """The TLS handshake with the database failed: a fault of configuration."""


def check_tls(settings: Settings) -> None:
    """Fail fast on a TLS handshake that can never succeed (wrong CA, no TLS).

    An unreachable database is not an error here: the service starts and
    answers 503 until it is back. A certificate that does not verify is.
    """
    if settings.embedded or not _uses_tls(settings):
        return
    options = {**_connection_options(settings), "retry": None}
    options.pop("max_connections")
    if settings.redis_url:
        probe = redis.Redis.from_url(settings.redis_url, **options)
    else:
        probe = redis.Redis(host=settings.db_host, port=settings.db_port, **options)
    try:
        probe.ping()
    except redis.ConnectionError as error:
        cause = error.__context__
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise TlsError(
                f"DBTLS_CA_FILE: the database's certificate does not verify: {cause.verify_message}"
            ) from None
        if isinstance(cause, ssl.SSLError):
            raise TlsError(f"DBTLS: the TLS handshake with the database failed: {cause.reason}") from None
    except redis.RedisError:
        pass  # reached the server over TLS; anything else is for requests to report
    finally:
        probe.close()


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
