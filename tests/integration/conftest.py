"""Real servers for the integration tests: a 6-node Redis Cluster, a standalone
Redis, and a gunicorn process in front of each, started once per session.

The services connect as the least-privilege user of tests/support/backends.py,
so the whole suite proves that least privilege is enough.

Nothing here skips: without redis-server these fixtures fail (scripts/test
installs it).
"""

from __future__ import annotations

import pytest

from tests.support.backends import (
    LEAST_PRIVILEGE,
    Backend,
    cluster_env,
    standalone_env,
    tls_cluster_env,
)
from tests.support.redis_servers import LocalCluster, StandaloneRedis
from tests.support.service import Http, Service, customers_command
from tests.support.tls import Certificates, make_certificates


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("cluster"), extra_config=LEAST_PRIVILEGE).start() as started:
        yield started


@pytest.fixture(scope="session")
def standalone(tmp_path_factory):
    with StandaloneRedis(
        tmp_path_factory.mktemp("standalone"), extra_config=LEAST_PRIVILEGE
    ).start() as started:
        yield started


@pytest.fixture(scope="session")
def certificates(tmp_path_factory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="session")
def tls_cluster(certificates, tmp_path_factory):
    """A TLS-only cluster (tls-cluster, tls-replication, client certificates required)."""
    workdir = tmp_path_factory.mktemp("tls-cluster")
    with LocalCluster(workdir, extra_config=LEAST_PRIVILEGE, tls=certificates).start() as started:
        yield started


@pytest.fixture(scope="session")
def tls_cluster_service(tls_cluster, certificates, tmp_path_factory):
    env = tls_cluster_env(tls_cluster, certificates)
    with Service(env, tmp_path_factory.mktemp("logs") / "tls-cluster-service.log", workers=4) as service:
        yield service


@pytest.fixture(scope="session")
def cluster_service(cluster, tmp_path_factory):
    env = cluster_env(cluster)
    with Service(env, tmp_path_factory.mktemp("logs") / "cluster-service.log", workers=4) as service:
        yield service


@pytest.fixture(scope="session")
def standalone_service(standalone, tmp_path_factory):
    env = standalone_env(standalone)
    with Service(env, tmp_path_factory.mktemp("logs") / "standalone-service.log", workers=4) as service:
        yield service


@pytest.fixture
def on_cluster(cluster, cluster_service) -> Backend:
    cluster.flushall()
    return Backend("cluster", Http(cluster_service.url), cluster.client(), cluster_service)


@pytest.fixture
def on_standalone(standalone, standalone_service) -> Backend:
    standalone.client().flushall()
    return Backend("standalone", Http(standalone_service.url), standalone.client(), standalone_service)


@pytest.fixture
def on_tls_cluster(tls_cluster, tls_cluster_service) -> Backend:
    tls_cluster.flushall()
    return Backend("tls-cluster", Http(tls_cluster_service.url), tls_cluster.client(), tls_cluster_service)


@pytest.fixture(params=["cluster", "standalone", "tls_cluster"])
def backend(request) -> Backend:
    """Each test using this runs against the cluster, a standalone Redis, and a TLS-only cluster."""
    return request.getfixturevalue(f"on_{request.param}")


@pytest.fixture
def reindex():
    """Run ``flask --app wsgi customers reindex`` against a backend, as an operator would."""

    def run(backend: Backend) -> str:
        return customers_command(backend.service.database_env, "reindex")

    return run
