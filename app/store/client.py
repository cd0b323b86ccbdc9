"""Build the Redis client the repository talks through.

One client per process, built lazily on first use: gunicorn forks its workers,
and a connection pool must never be shared across a fork.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from redis.cluster import RedisCluster

from app.ops import embedded
from app.settings import Settings
from app.store.connection import connection_options, db_host, retry_policy, single_node
from app.store.tls_check import check_tls

Client = redis.Redis | RedisCluster

log = logging.getLogger(__name__)


def build_client(settings: Settings) -> Client:
    """Return a standalone or cluster client as the settings describe.

    For the embedded store, start its server first unless it runs already
    (the CLI and ``flask run``; under gunicorn the master has started it).
    """
    if settings.embedded:
        if embedded.ensure_running(settings.data_dir):
            log.warning(embedded.notice(settings.data_dir))
        return redis.Redis(
            unix_socket_path=str(embedded.socket_path(settings.data_dir)),
            decode_responses=True,
            socket_timeout=settings.db_socket_timeout,
            retry=retry_policy(),
            max_connections=settings.db_max_connections,
        )
    log.info("database: %s", settings.database_label)
    # A handshake that can never succeed would otherwise be retried like an
    # outage (DB_CONNECT_TIMEOUT per attempt) and reported as a bare timeout.
    check_tls(settings)
    options = connection_options(settings)
    if _wants_cluster(settings, options):
        # Topology changes (failover, resharding) surface as MOVED/ASK or as
        # connection errors on one node; the cluster client re-reads the slot
        # map and retries with this policy.
        if settings.redis_url:
            return RedisCluster.from_url(settings.redis_url, **options)
        return RedisCluster(host=settings.db_host, port=settings.db_port, **options)
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, **options)
    return redis.Redis(host=db_host(settings), port=settings.db_port, **options)


def _wants_cluster(settings: Settings, options: dict[str, Any]) -> bool:
    if settings.redis_cluster != "auto":
        return settings.redis_cluster == "true"
    probe = single_node(settings, **{k: v for k, v in options.items() if k != "max_connections"})
    try:
        return str(probe.info("cluster").get("cluster_enabled")) == "1"
    finally:
        probe.close()
