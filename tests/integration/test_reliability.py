"""Optimistic concurrency, idempotent creation, durable acknowledgement and
graceful shutdown, against the real service on real Redis servers."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.customers.model import etag_of
from tests.support.backends import LEAST_PRIVILEGE, cluster_env, standalone_env
from tests.support.redis_servers import LocalCluster
from tests.support.service import Http, Service


def create(http, body=None, **headers):
    response = http.post("/customers", json=body or {"name": "Ada", "balance": 1}, headers=headers)
    assert response.status_code == 201, response.text
    return response


def test_etag_is_the_same_in_python_and_in_the_server_script(backend):
    location = create(backend.http).headers["Location"]
    key = "customer:" + location.rsplit("/", 1)[1]
    # Another program adds fields: non-ASCII text, names that sort oddly.
    backend.redis.hset(key, mapping={"Zeta": "ünïcode ✓", "_a": "", "B": "x"})
    tag = backend.http.get(location).headers["ETag"]
    assert tag == f'"{etag_of(backend.redis.hgetall(key))}"'
    # The Lua script computes the same tag, so If-Match with it succeeds.
    assert backend.http.patch(location, json={"balance": 2}, headers={"If-Match": tag}).status_code == 204


def test_if_match_with_the_current_etag_succeeds_and_a_stale_one_is_412(backend):
    http = backend.http
    created = create(http)
    location, first = created.headers["Location"], created.headers["ETag"]
    second = http.patch(location, json={"balance": 5}, headers={"If-Match": first})
    assert second.status_code == 204
    stale = http.patch(location, json={"balance": 6}, headers={"If-Match": first})
    assert stale.status_code == 412
    assert stale.headers["Content-Type"] == "application/problem+json"
    assert stale.headers["ETag"] == second.headers["ETag"]
    assert http.get(location).json()["balance"] == 5
    assert http.delete(location, headers={"If-Match": first}).status_code == 412
    assert http.delete(location, headers={"If-Match": second.headers["ETag"]}).status_code == 204


@pytest.mark.parametrize(
    ("if_match", "status"),
    [
        ("*", 204),
        ('"x", "{tag}"', 204),
        ('"{tag}"', 204),
        ('W/"{tag}"', 412),
        ('"nonsense"', 412),
        ("garbage", 412),
        ('""', 412),  # found by schemathesis: parsed as None, was a 500
        ('"", "Y"', 412),
    ],
)
def test_if_match_forms(on_standalone, if_match, status):
    created = create(on_standalone.http)
    header = if_match.format(tag=created.headers["ETag"].strip('"'))
    response = on_standalone.http.put(
        created.headers["Location"], json={"balance": 3}, headers={"If-Match": header}
    )
    assert response.status_code == status


def test_an_etag_changes_when_another_program_changes_the_hash(backend):
    created = create(backend.http)
    location = created.headers["Location"]
    backend.redis.hset("customer:" + location.rsplit("/", 1)[1], "balance", "7")
    response = backend.http.patch(
        location, json={"balance": 8}, headers={"If-Match": created.headers["ETag"]}
    )
    assert response.status_code == 412
    assert backend.http.get(location, headers={"If-None-Match": created.headers["ETag"]}).status_code == 200


def test_require_if_match(standalone, tmp_path):
    standalone.client().flushall()
    with Service({**standalone_env(standalone), "REQUIRE_IF_MATCH": "true"}, tmp_path / "s.log") as service:
        http = Http(service.url)
        created = create(http)
        location = created.headers["Location"]
        for method in ("put", "patch", "delete"):
            assert getattr(http, method)(location, json={"balance": 1}).status_code == 428
        assert (
            http.patch(
                location, json={"balance": 1}, headers={"If-Match": created.headers["ETag"]}
            ).status_code
            == 204
        )


def test_concurrent_duplicates_with_one_idempotency_key_create_one_customer(backend):
    start = threading.Barrier(16)

    def post(_):
        start.wait(timeout=10)
        return Http(backend.service.url).post(
            "/customers", json={"name": "Once", "balance": 10}, headers={"Idempotency-Key": "checkout-42"}
        )

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(post, range(16)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.headers["ETag"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 15
    assert len(backend.http.get("/customers").json()) == 1
    assert len(list(backend.redis.scan_iter("customer:*"))) == 1


def primary_and_replica_of(cluster: LocalCluster, key: str):
    """The node objects of the primary owning ``key`` and of its replica."""
    owner_port = cluster.client().get_node_from_key(key).port
    nodes = {node.port: node for node in cluster.nodes}
    for node in cluster.nodes:
        info = node.connection().info("replication")
        if info["role"] == "slave" and int(info["master_port"]) == owner_port:
            return nodes[owner_port], node
    raise AssertionError(f"no replica for port {owner_port}")


def test_with_db_wait_replicas_a_write_the_replica_did_not_get_is_not_acknowledged(tmp_path):
    with LocalCluster(tmp_path / "cluster", extra_config=LEAST_PRIVILEGE).start() as cluster:
        env = {**cluster_env(cluster), "DB_WAIT_REPLICAS": "1", "DB_WAIT_TIMEOUT_MS": "300"}
        with Service(env, tmp_path / "service.log") as service, cluster.client() as client:
            http = Http(service.url)

            def shard(key: str) -> int:
                return client.get_node_from_key(key).port

            index_shard = shard("customers:index")
            ids = [create(http, {"name": f"c{i}"}).json()["id"] for i in range(30)]
            # A customer away from the index's shard, and one on a third shard.
            victim = next(i for i in ids if shard(f"customer:{i}") != index_shard)
            owner = shard(f"customer:{victim}")
            elsewhere_id = next(i for i in ids if shard(f"customer:{i}") not in (owner, index_shard))
            _, replica = primary_and_replica_of(cluster, f"customer:{victim}")

            replica.kill(signal.SIGSTOP)
            try:
                refused = http.patch(f"/customers/{victim}", json={"balance": 99})
                elsewhere = http.patch(f"/customers/{elsewhere_id}", json={"balance": 99})
                posts = [http.post("/customers", json={"name": f"p{i}"}) for i in range(20)]
            finally:
                replica.kill(signal.SIGCONT)

            assert refused.status_code == 503
            assert refused.headers["Content-Type"] == "application/problem+json"
            assert refused.json()["type"].endswith("write-not-durable")
            assert refused.headers["Retry-After"]
            assert elsewhere.status_code == 204
            # New customers: those whose key falls on the stalled shard are
            # refused, the others acknowledged.
            assert {p.status_code for p in posts} == {201, 503}
            for post in posts:
                if post.status_code == 201:
                    assert shard(f"customer:{post.json()['id']}") != owner
            # Once the replica is back, the same write is acknowledged.
            assert http.patch(f"/customers/{victim}", json={"balance": 100}).status_code == 204
            assert http.get(f"/customers/{victim}").json()["balance"] == 100

            # The listing index is made durable too: with the replica of its
            # shard stalled, no create is acknowledged, whichever shard the
            # customer itself lands on.
            _, index_replica = primary_and_replica_of(cluster, "customers:index")
            index_replica.kill(signal.SIGSTOP)
            try:
                creates = [http.post("/customers", json={"name": f"i{i}"}).status_code for i in range(3)]
            finally:
                index_replica.kill(signal.SIGCONT)
            assert creates == [503, 503, 503]


def test_sigterm_lets_in_flight_requests_finish(standalone, tmp_path):
    standalone.client().flushall()
    with Service(standalone_env(standalone), tmp_path / "s.log", workers=4) as service:
        http = Http(service.url)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: create(Http(service.url), {"name": f"c{i}"}), range(1000)))

        def list_all(_):
            return Http(service.url).get("/customers?limit=1000")

        with ThreadPoolExecutor(4) as pool:
            pending = [pool.submit(list_all, i) for i in range(4)]
            time.sleep(0.05)  # the four requests are accepted, one per worker
            started = time.monotonic()
            exit_code = service.stop()
            responses = [p.result() for p in pending]
        assert exit_code == 0
        assert time.monotonic() - started < 10
        assert [r.status_code for r in responses] == [200] * 4
        assert all(len(r.json()) == 1000 for r in responses)
        with pytest.raises(requests.ConnectionError):
            http.get("/healthz", timeout=1)
