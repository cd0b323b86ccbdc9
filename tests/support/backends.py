"""The servers the integration tests use, as the service sees them.

The service connects as an ACL user with exactly the rule of ``app.ops.acl``
(on every cluster node), so every test over these proves that least
privilege is enough; tests inspect Redis as the default user.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from app.ops.acl import access_string
from tests.support.redis_servers import LocalCluster, StandaloneRedis
from tests.support.service import Http, Service
from tests.support.tls import Certificates

APP_USER = "customers-app"
APP_PASSWORD = "app-secret-0123456789"
# Server configuration that creates the service's user.
LEAST_PRIVILEGE = {"user": f"{APP_USER} {access_string()} >{APP_PASSWORD}"}


@dataclass
class Backend:
    """A server, the service in front of it, and a session to each."""

    name: str
    http: Http
    redis: redis.Redis | redis.cluster.RedisCluster
    service: Service


def cluster_env(cluster: LocalCluster) -> dict[str, str]:
    """How the service reaches ``cluster``: as the least-privilege user."""
    return {
        "DBHOST": "127.0.0.1",
        "DBPORT": str(cluster.ports[0]),
        "DBTLS": "false",
        "DBUSERNAME": APP_USER,
        "DBPASSWORD": APP_PASSWORD,
    }


def tls_cluster_env(cluster: LocalCluster, certificates: Certificates) -> dict[str, str]:
    """How the service reaches a TLS-only cluster: verified, with a client certificate."""
    return {
        "DBHOST": "127.0.0.1",
        "DBPORT": str(cluster.ports[0]),
        "DBTLS": "true",
        "DBTLS_CA_FILE": str(certificates.ca),
        "DBTLS_CERT_FILE": str(certificates.client_cert),
        "DBTLS_KEY_FILE": str(certificates.client_key),
        "DBUSERNAME": APP_USER,
        "DBPASSWORD": APP_PASSWORD,
    }


def standalone_env(standalone: StandaloneRedis) -> dict[str, str]:
    """How the service reaches ``standalone``: as the least-privilege user."""
    return {"REDIS_URL": f"redis://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{standalone.port}"}
