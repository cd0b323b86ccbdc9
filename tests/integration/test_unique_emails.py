"""UNIQUE_EMAILS=true on the real 6-node cluster, over HTTP: conflicts, races, replays, duplicates."""

from __future__ import annotations

import threading

import pytest

from tests.support.backends import Backend, cluster_env
from tests.support.service import Http, Service, run_customers

ROUNDS = 5


@pytest.fixture(scope="module")
def unique_service(cluster, tmp_path_factory):
    env = {**cluster_env(cluster), "UNIQUE_EMAILS": "true"}
    with Service(env, tmp_path_factory.mktemp("logs") / "unique-service.log", workers=4) as service:
        yield service


@pytest.fixture
def unique(cluster, unique_service) -> Backend:
    cluster.flushall()
    return Backend("cluster-unique", Http(unique_service.url), cluster.client(), unique_service)


def at_once(count, call):
    """Run ``call(n)`` in ``count`` threads released together; return the results."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(n):
        barrier.wait()
        results[n] = call(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def emails_of(backend, email):
    response = backend.http.get("/customers", params={"email": email})
    assert response.status_code == 200
    return [c["id"] for c in response.json()]


def test_a_second_customer_with_an_email_is_a_409_and_a_deleted_ones_email_is_free(unique):
    http = unique.http
    ada = http.post("/customers", json={"name": "Ada", "email": "ada@example.com"}).json()
    copy = http.post("/customers", json={"name": "Copy", "email": "ADA@example.com"})
    assert copy.status_code == 409
    assert copy.headers["Content-Type"] == "application/problem+json"
    assert copy.json()["type"].endswith("email-taken")
    grace = http.post("/customers", json={"name": "Grace", "email": "grace@example.com"}).json()
    assert http.put(f"/customers/{grace['id']}", json={"email": "Ada@example.com"}).status_code == 409
    patch = http.patch(
        f"/customers/{grace['id']}",
        data='{"email": "ada@example.com"}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patch.status_code == 409
    assert http.put(f"/customers/{ada['id']}", json={**ada, "name": "Ada L."}).status_code == 204, "her own"
    assert http.delete(f"/customers/{ada['id']}").status_code == 204
    assert http.put(f"/customers/{grace['id']}", json={"email": "ada@example.com"}).status_code == 204
    assert emails_of(unique, "ada@example.com") == [grace["id"]]


def test_an_idempotent_retry_is_a_replay_not_a_conflict(unique):
    headers = {"Idempotency-Key": "k-1"}
    body = {"name": "Ada", "email": "ada@example.com"}
    first = unique.http.post("/customers", json=body, headers=headers)
    again = unique.http.post("/customers", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_16_simultaneous_posts_with_one_new_email_create_exactly_one_customer(unique):
    url = unique.service.url
    sessions = [Http(url) for _ in range(16)]
    for round_ in range(ROUNDS):
        email = f"new{round_}@example.com"
        statuses = at_once(
            16,
            lambda n, email=email: (
                sessions[n].post("/customers", json={"name": f"p{n}", "email": email}).status_code
            ),
        )
        assert sorted(statuses) == [201] + [409] * 15
        assert len(emails_of(unique, email)) == 1


def test_two_customers_changed_to_one_email_at_the_same_moment_at_most_one_succeeds(unique):
    url = unique.service.url
    sessions = [Http(url), Http(url)]
    for round_ in range(ROUNDS):
        pair = [
            unique.http.post(
                "/customers", json={"name": f"c{n}", "email": f"c{round_}-{n}@example.com"}
            ).json()
            for n in range(2)
        ]
        target = f"target{round_}@example.com"
        statuses = at_once(
            2,
            lambda n, pair=pair, target=target: (
                sessions[n].put(f"/customers/{pair[n]['id']}", json={"email": target}).status_code
            ),
        )
        assert sorted(statuses) == [204, 409]
        winner = pair[statuses.index(204)]["id"]
        assert emails_of(unique, target) == [winner]


def test_duplicates_reports_shared_emails_before_uniqueness_is_turned_on(on_cluster, reindex):
    """The plain service (UNIQUE_EMAILS=false) allows duplicates as the sample did; the command names them."""
    ids = [
        on_cluster.http.post("/customers", json={"name": f"c{n}", "email": "same@example.com"}).json()["id"]
        for n in range(3)
    ]
    result = run_customers(on_cluster.service.database_env, "duplicates")
    assert result.returncode == 1, result.stderr
    assert result.stdout == f"same@example.com\t{' '.join(sorted(ids))}\n"
