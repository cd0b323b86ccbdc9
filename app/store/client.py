"""Build the Redis client the repository talks through.

One client per process, built lazily on first use: gunicorn forks its workers,
and a connection pool must never be shared across a fork.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, ConnectionError, SlotNotCoveredError

from app.ops import embedded
from app.settings import Settings
from app.store.connection import connection_options, db_host, retry_policy, single_node
from app.store.tls_check import check_tls


class ClusterClient(RedisCluster):
    """redis-py's cluster client, bounded in time when nodes stop answering.

    After a reply times out, redis-py re-reads the slot map (``CLUSTER
    SLOTS`` on each known node, a timeout for each that does not answer) and
    by default sends the command again. Measured in a frozen 6-node cluster
    with 1 s timeouts: 7-12 s per request, as a request's re-read waited for
    the events relay's to fail and then ran its own, and four attempts of
    that could reach gunicorn's 30 s worker timeout. So here:

    - a timeout is not retried (a node that did not answer within
      ``DB_SOCKET_TIMEOUT`` seldom answers a second try sooner): the request
      answers 503 and the next one uses the map the re-read found.
      Connection errors (a node down, a failover) and CLUSTERDOWN still are;
    - a thread that needs the map re-read while another thread is re-reading
      it waits for that re-read and takes its outcome, success or failure,
      instead of starting another.
    """

    # redis-py's own list, without TimeoutError.
    ERRORS_ALLOW_RETRY = (ConnectionError, ClusterDownError, SlotNotCoveredError)  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nodes_manager.initialize = _OneAtATime(self.nodes_manager.initialize)  # type: ignore[method-assign]


class _OneAtATime:
    """A call that threads arriving while it runs do not repeat: they get its outcome."""

    def __init__(self, call: Callable[..., None]) -> None:
        self._call = call
        self._lock = threading.Lock()
        self._finished = 0  # calls finished so far
        self._error: Exception | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        finished = self._finished
        with self._lock:
            if self._finished != finished:  # one ran while this thread waited
                if self._error is not None:
                    raise type(self._error)(*self._error.args)
                return
            try:
                self._call(*args, **kwargs)
                self._error = None
            except Exception as error:
                self._error = error
                raise
            finally:
                self._finished += 1


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
            return ClusterClient.from_url(settings.redis_url, **options)
        return ClusterClient(host=settings.db_host, port=settings.db_port, **options)
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
