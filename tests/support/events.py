"""Writers whose every change is known, feed readers that follow ``next``, and the check.

Each write sets an address no other write sets, so an event names the write
it stands for. A writer keeps, per customer, every write it attempted and
whether it was acknowledged (2xx); ``check`` then proves, from what readers
saw: no event twice, every acknowledged change has its event, no event
without an attempted write (a change that got no answer may or may not have
happened, and so may or may not have an event), each customer's events in
the order of its writes, and each customer's last event equal to what GET
shows now (or a delete).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import requests

from tests.support.service import Http

REQUEST_TIMEOUT = 15.0
_NEXT = re.compile(r'<([^>]+)>; rel="next"')


@dataclass
class Attempt:
    kind: str  # created, updated, deleted
    address: str | None  # None for a delete
    acknowledged: bool


@dataclass
class History:
    """Every write attempted on each customer, in order (one writer per customer)."""

    writes: dict[str, list[Attempt]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, customer_id: str, attempt: Attempt) -> None:
        with self.lock:
            self.writes.setdefault(customer_id, []).append(attempt)

    def acknowledged(self) -> int:
        return sum(a.acknowledged for attempts in self.writes.values() for a in attempts)


def write_customers(
    http: Http, history: History, prefix: str, *, customers: int, updates: int, running
) -> int:
    """Create ``customers`` customers, update each ``updates`` times, delete every third; bounded."""
    done = 0
    for n in range(customers):
        if not running():
            break
        address = f"{prefix}-{n}-create"
        try:
            response = http.post(
                "/customers", json={"name": f"{prefix}-{n}", "address": address}, timeout=REQUEST_TIMEOUT
            )
        except requests.RequestException:
            continue  # no id, so no way to tell: a create without an answer is not tracked
        done += 1
        if response.status_code != 201:
            continue
        customer_id = response.json()["id"]
        history.add(customer_id, Attempt("created", address, True))
        for step in range(updates):
            if not running():
                break
            address = f"{prefix}-{n}-u{step}"
            history.add(customer_id, _attempt(http, "PUT", customer_id, "updated", address))
            done += 1
        if n % 3 == 2 and running():
            history.add(customer_id, _attempt(http, "DELETE", customer_id, "deleted", None))
            done += 1
    return done


def _attempt(http: Http, method: str, customer_id: str, kind: str, address: str | None) -> Attempt:
    body = {"address": address} if address else None
    try:
        response = http.request(method, f"/customers/{customer_id}", json=body, timeout=REQUEST_TIMEOUT)
    except requests.RequestException:
        return Attempt(kind, address, False)
    return Attempt(kind, address, response.status_code in (200, 204))


class Reader:
    """Follows ``Link: rel=next`` from the start, keeping every event it is shown."""

    def __init__(self, http: Http, limit: int = 200) -> None:
        self.http = http
        self.url = f"/events?limit={limit}"
        self.events: list[dict] = []
        self.errors: list[str] = []

    def poll(self) -> int:
        """One request; return how many events it brought (-1: it failed, the cursor is kept)."""
        try:
            response = self.http.get(self.url, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as error:
            self.errors.append(repr(error)[:200])
            return -1
        if response.status_code != 200:
            self.errors.append(f"{response.status_code}: {response.text[:200]}")
            return -1
        match = _NEXT.search(response.headers.get("Link", ""))
        assert match, f"no rel=next in {response.headers.get('Link')!r}"
        self.url = match.group(1).removeprefix(self.http.base_url)
        batch = response.json()
        self.events.extend(batch)
        return len(batch)

    def follow(self, done, deadline: float, pause: float = 0.05) -> None:
        """Poll until ``done(self)`` holds after an empty poll, or until the deadline."""
        while time.monotonic() < deadline:
            count = self.poll()
            if count == 0 and done(self):
                return
            if count <= 0:
                time.sleep(pause)

    def has_all(self, history: History) -> bool:
        """Whether every acknowledged write of ``history`` is among the events seen."""
        seen = {
            (e["customer_id"], e["type"].removeprefix("customer."), e["data"]["address"]) for e in self.events
        }
        with history.lock:
            wanted = [
                (customer_id, a.kind, a.address)
                for customer_id, attempts in history.writes.items()
                for a in attempts
                if a.acknowledged and a.kind != "deleted"
            ]
            deletes = {
                customer_id
                for customer_id, attempts in history.writes.items()
                if any(a.acknowledged and a.kind == "deleted" for a in attempts)
            }
        deleted = {e["customer_id"] for e in self.events if e["type"] == "customer.deleted"}
        return all(item in seen for item in wanted) and deletes <= deleted


def check(events: list[dict], history: History, http: Http, prefix: str = "") -> list[str]:
    """Every way ``events`` (what one reader saw) breaks the contract, in words.

    Customers outside ``history`` count only when their name starts with
    ``prefix`` (the test's own writers).
    """
    problems = []
    ids = [e["id"] for e in events]
    if len(ids) != len(set(ids)):
        problems.append(f"{len(ids) - len(set(ids))} events seen twice")
    by_customer: dict[str, list[dict]] = {}
    for event in events:
        by_customer.setdefault(event["customer_id"], []).append(event)
    for customer_id, attempts in history.writes.items():
        seen = by_customer.get(customer_id, [])
        problems += _check_customer(customer_id, attempts, seen, http)
    strangers = {
        customer_id
        for customer_id in set(by_customer) - set(history.writes)
        if (by_customer[customer_id][0]["data"]["name"] or "").startswith(prefix)
    }
    # A create that got no answer has no id in the history: its events are allowed only if it exists.
    for customer_id in strangers:
        if by_customer[customer_id][-1]["type"] != "customer.deleted":
            status = http.get(f"/customers/{customer_id}", timeout=REQUEST_TIMEOUT).status_code
            if status != 200:
                problems.append(
                    f"{customer_id}: events of an unknown customer that does not exist ({status})"
                )
    return problems


def _check_customer(customer_id: str, attempts: list[Attempt], seen: list[dict], http: Http) -> list[str]:
    problems = []
    order = {(a.kind, a.address): n for n, a in enumerate(attempts)}
    positions = []
    for event in seen:
        kind = event["type"].removeprefix("customer.")
        key = (kind, None if kind == "deleted" else event["data"]["address"])
        if key not in order:
            problems.append(f"{customer_id}: phantom event {kind} {key[1]!r}")
            continue
        positions.append(order[key])
    if positions != sorted(set(positions)):
        problems.append(f"{customer_id}: events out of order or repeated: {positions}")
    for n, attempt in enumerate(attempts):
        if attempt.acknowledged and n not in positions:
            problems.append(f"{customer_id}: acknowledged {attempt.kind} {attempt.address!r} has no event")
    response = http.get(f"/customers/{customer_id}", timeout=REQUEST_TIMEOUT)
    last = seen[-1] if seen else None
    if response.status_code == 200:
        if last is None or last["type"] == "customer.deleted" or last["data"] != response.json():
            problems.append(f"{customer_id}: last event {last and last['type']} is not the current state")
    elif response.status_code == 404:
        if last is not None and last["type"] != "customer.deleted":
            problems.append(f"{customer_id}: deleted, but the last event is {last['type']}")
    else:
        problems.append(f"{customer_id}: GET answered {response.status_code}")
    return problems
