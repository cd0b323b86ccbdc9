"""Finding customers over HTTP on real servers: by email, newest first, by creation time (issue 12).

Each rule runs on the 6-node cluster, a standalone Redis and a TLS-only
cluster (``backend``); the races run on the cluster, where the email index
and the hashes live on different primaries.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest

from tests.support.listing import listed_ids
from tests.support.service import Http


def post(http, **body):
    response = http.post("/customers", json={"name": "n", **body})
    assert response.status_code == 201, response.text
    return response.json()


def ids_by_email(http, email, **params):
    return listed_ids(http.get, "/customers?" + _query(email=email, **params))


def _query(**params):
    return urlencode(params)


def test_lookup_by_email_finds_every_case_and_follows_each_write(backend):
    http = backend.http
    ada = post(http, email="Ada@Example.COM")
    assert ada["email"] == "Ada@example.com", "the local part keeps its case"
    other = post(http, email="grace@example.com")
    assert ids_by_email(http, "  ada@EXAMPLE.com ") == [ada["id"]]
    assert http.put(f"/customers/{ada['id']}", json={"email": "countess@example.com"}).status_code == 204
    assert ids_by_email(http, "ada@example.com") == []
    assert ids_by_email(http, "countess@example.com") == [ada["id"]]
    patch = http.patch(
        f"/customers/{ada['id']}",
        data='{"email": null}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patch.status_code == 204
    assert ids_by_email(http, "countess@example.com") == []
    assert http.delete(f"/customers/{other['id']}").status_code == 204
    assert ids_by_email(http, "grace@example.com") == []
    response = http.get("/customers?email=nobody@example.com")
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"email": "not an address"}, "email"),
        ({"order": "newest"}, "order"),
        ({"created[gte]": "yesterday"}, "created[gte]"),
        ({"created[lt]": "2026-02-30T00:00:00Z"}, "created[lt]"),
        ({"created[gt]": "2026-12-01T00:00:00"}, "created[gt]"),
        ({"created[lte]": "2026-12-01"}, "created[lte]"),
    ],
)
def test_a_bad_parameter_is_a_400_problem_naming_it(on_cluster, params, named):
    response = on_cluster.http.get("/customers?" + _query(**params))
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [named]


def test_order_and_creation_time_filters_combine_with_each_other_and_with_email(backend):
    http = backend.http
    made = [post(http, email=f"{'a' if i % 2 else 'b'}@example.com") for i in range(8)]
    ids = [c["id"] for c in made]
    assert listed_ids(http.get, "/customers?order=desc&limit=3") == ids[::-1]
    assert listed_ids(http.get, "/customers?order=asc&limit=3") == ids
    start, end = made[2]["created_at"], made[6]["created_at"]
    window = {"created[gte]": start, "created[lt]": end}
    assert listed_ids(http.get, "/customers?limit=2&" + _query(**window)) == ids[2:6]
    offset_end = end.replace("Z", "+00:00")
    assert (
        listed_ids(http.get, "/customers?" + _query(**{"created[gt]": start, "created[lte]": offset_end}))
        == ids[3:7]
    )
    odd = [i for n, i in enumerate(ids) if n % 2]
    plus = [post(http, email="x+tag@example.com")["id"] for _ in range(3)]
    assert ids_by_email(http, "X+Tag@example.com", limit=1) == plus, (
        "the next link keeps the + of the address"
    )
    assert ids_by_email(http, "a@example.com", order="desc", limit=1) == odd[::-1]
    assert ids_by_email(http, "a@example.com", limit=1, **window) == [i for i in odd if i in ids[2:6]]
    # Fractional seconds finer than a microsecond, and an offset other than Z.
    assert (
        listed_ids(http.get, "/customers?" + _query(**{"created[gt]": "1970-01-01T01:00:00.0000001+01:00"}))
        == ids + plus
    )


def test_a_cursor_used_with_another_query_is_a_400(backend):
    http = backend.http
    for _ in range(3):
        post(http, email="a@example.com")
    first = http.get("/customers?email=a@example.com&limit=1")
    link = first.headers["Link"]
    assert "email=a@example.com" in link
    assert "cursor=" in link
    cursor = link.split("cursor=")[1].split(">")[0].split("&")[0]
    for other in ("order=desc", "email=b@example.com", "created[gte]=2000-01-01T00:00:00Z", ""):
        response = http.get(f"/customers?limit=1&cursor={cursor}&{other}")
        assert response.status_code == 400, other
        assert response.json()["type"].endswith("invalid-cursor")


def test_reindex_makes_sample_hashes_findable_by_email(backend, reindex):
    customer_id = str(uuid.uuid4())
    backend.redis.hset(f"customer:{customer_id}", mapping={"name": "old", "email": "old@example.com"})
    assert ids_by_email(backend.http, "OLD@example.com") == []
    reindex(backend)
    assert ids_by_email(backend.http, "OLD@example.com") == [customer_id]


def test_concurrent_email_changes_of_one_customer_end_found_under_exactly_the_final_email(on_cluster):
    url = on_cluster.service.url
    customer = post(on_cluster.http, email="x@example.com")
    emails = ["x@example.com", "y@example.com"]
    sessions = [Http(url) for _ in range(4)]

    def change(n):
        for step in range(6):
            email = emails[(n + step) % 2]  # x->y in one thread while another goes y->x
            response = sessions[n].put(f"/customers/{customer['id']}", json={"email": email})
            assert response.status_code in (204, 409)

    for _ in range(30):
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(change, range(4)))
        final = on_cluster.http.get(f"/customers/{customer['id']}").json()["email"]
        for email in emails:
            assert ids_by_email(on_cluster.http, email) == ([customer["id"]] if email == final else [])


def test_an_email_change_racing_a_delete_leaves_nothing_to_find(on_cluster):
    url = on_cluster.service.url
    for round_ in range(20):
        customer = post(on_cluster.http, email=f"before{round_}@example.com")
        barrier = threading.Barrier(2)

        def change(customer=customer, round_=round_, barrier=barrier):
            barrier.wait()
            Http(url).put(f"/customers/{customer['id']}", json={"email": f"after{round_}@example.com"})

        def delete(customer=customer, barrier=barrier):
            barrier.wait()
            Http(url).delete(f"/customers/{customer['id']}")

        threads = [threading.Thread(target=change), threading.Thread(target=delete)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert on_cluster.http.get(f"/customers/{customer['id']}").status_code == 404
        assert ids_by_email(on_cluster.http, f"before{round_}@example.com") == []
        assert ids_by_email(on_cluster.http, f"after{round_}@example.com") == []
