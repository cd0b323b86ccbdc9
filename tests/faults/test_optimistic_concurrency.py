"""Many clients increment one counter with read, then PATCH with If-Match.

The counter is the customer's ``address`` ("count 17"). Each client reads the
customer (ETag and counter), writes counter + 1 with ``If-Match: <ETag>``, and
on 412 reads again and retries. The check on the server is atomic, so no
increment is lost: the final counter equals the number of 204s exactly.
"""

from __future__ import annotations

from tests.faults import harness
from tests.faults.harness import Load, Tally
from tests.support.service import Http

THREADS = 16
INCREMENTS_PER_THREAD = 5
MAX_ATTEMPTS_PER_THREAD = 400
LOAD_SECONDS = 45


def _counter(body: dict) -> int:
    prefix, _, number = (body.get("address") or "").partition(" ")
    assert prefix == "count", body
    return int(number)


def test_concurrent_if_match_increments_lose_nothing(cluster, start_service):
    service = start_service()
    with Http(service.url) as http:
        created = http.post("/customers", json={"name": "Counter", "address": "count 0"})
        assert created.status_code == 201, created.text
    url = f"/customers/{created.json()['id']}"
    bad_412s: list[str] = []
    unexpected: list[str] = []
    done_by_thread: dict[int, int] = {}

    def increment(index: int, http: Http, tally: Tally, load: Load) -> None:
        attempts = succeeded = 0
        while succeeded < INCREMENTS_PER_THREAD and load.running(attempts):
            attempts += 1
            read = tally.call(http, "get", "GET", url)
            if read is None or read.status_code != 200:
                unexpected.append(f"GET {None if read is None else read.status_code}")
                continue
            body = {"address": f"count {_counter(read.json()) + 1}"}
            headers = {"If-Match": read.headers["ETag"]}
            write = tally.call(http, "patch", "PATCH", url, json=body, headers=headers)
            if write is None:
                unexpected.append("PATCH: no answer")
            elif write.status_code == 204:
                succeeded += 1
            elif write.status_code == 412:
                if not write.headers.get("ETag") or not harness.is_problem(write):
                    bad_412s.append(f"{write.headers} {write.text[:200]}")
            else:
                unexpected.append(f"PATCH {write.status_code}: {write.text[:200]}")
        done_by_thread[index] = succeeded

    with Load(service.url, THREADS, LOAD_SECONDS, MAX_ATTEMPTS_PER_THREAD) as load:
        load.start(increment)
        load.finish()
    tally = load.tally

    with Http(service.url) as http:
        final = http.get(url)
        # The ETag of the final state also answers a conditional GET.
        not_modified = http.get(url, headers={"If-None-Match": final.headers["ETag"]})
    counts = tally.statuses()
    patches = [a for a in tally.snapshot() if a.op == "patch"]
    harness.report(
        "If-Match x16 threads",
        **tally.summary(),
        lost=sum(a.status == 204 for a in patches) - _counter(final.json()),
        **{"412": counts.get(412, 0), "final counter": _counter(final.json())},
    )

    assert not unexpected, unexpected[:10]
    assert not bad_412s, f"412s without ETag or problem+json: {bad_412s[:5]}"
    assert _counter(final.json()) == sum(a.status == 204 for a in patches)
    assert sum(done_by_thread.values()) == THREADS * INCREMENTS_PER_THREAD, done_by_thread
    assert counts.get(412, 0) > 0, "no conflict happened: the test did not exercise If-Match"
    assert not_modified.status_code == 304
