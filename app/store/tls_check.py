"""Fail fast on a TLS handshake with the database that can never succeed.

A wrong CA, or TLS to a plain-text server, would otherwise look like an
outage: retried, then reported as a bare timeout. plaintext.py tells a
plain-text Redis from a slow network.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import redis

from app.settings import Settings
from app.store import plaintext
from app.store.connection import connection_options, single_node, uses_tls


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
    if settings.embedded or not uses_tls(settings):
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
        **connection_options(settings),
        "retry": None,
        "socket_timeout": settings.db_connect_timeout,
    }
    options.pop("max_connections")
    probe = single_node(settings, **options)
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
