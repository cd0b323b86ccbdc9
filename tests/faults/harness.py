"""Load, fault injection and measurement for the fault tests.

Every loop here is bounded twice, by a number of requests and by a deadline,
and stops by itself; every HTTP request has a client timeout and goes to
127.0.0.1 only. The figures each test measures are printed and also kept in
``FIGURES``, which tests/faults/conftest.py prints as a table at the end of
the session.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import redis
import requests

from tests.support import listing
from tests.support.redis_servers import LocalCluster, RedisNode, redis_cli_binary
from tests.support.service import Http
from tests.support.slots import is_open, serves

# The listing index: every create and every delete writes it, so the shard
# holding its slot is the one whose failure or migration matters most.
INDEX_KEY = "customers:index"
# No answer within this long counts as a hung request.
REQUEST_TIMEOUT = 15.0

FIGURES: list[dict[str, object]] = []


def report(test: str, **figures: object) -> None:
    """Print the figures (seen with ``pytest -s``) and keep them for the summary table."""
    FIGURES.append({"test": test, **figures})
    print(f"\n[{test}] " + ", ".join(f"{key}={value}" for key, value in figures.items()))


# --------------------------------------------------------------------------
# Answers


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange: ``status`` is None when no HTTP answer came back."""

    op: str
    url: str
    status: int | None
    started: float
    ended: float
    problem: bool = False  # Content-Type application/problem+json
    retry_after: bool = False  # a Retry-After header with a number of seconds
    detail: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def well_formed_503(self) -> bool:
        return self.status == 503 and self.problem and self.retry_after


class Tally:
    """Every answer of a run, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answers: list[Answer] = []

    def call(self, http: Http, op: str, method: str, url: str, **kwargs) -> requests.Response | None:
        started = time.monotonic()
        try:
            response = http.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            self._add(Answer(op, url, None, started, time.monotonic(), detail=repr(exc)[:300]))
            return None
        ended = time.monotonic()
        status = response.status_code
        self._add(
            Answer(
                op,
                url,
                status,
                started,
                ended,
                problem=response.headers.get("Content-Type", "").startswith("application/problem+json"),
                retry_after=response.headers.get("Retry-After", "").strip().isdigit(),
                detail="" if status < 400 else response.text[:300],
            )
        )
        return response

    def _add(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)

    def statuses(self) -> Counter:
        return Counter("none" if a.status is None else a.status for a in self.snapshot())

    def successes_since(self, moment: float, op: str | None = None) -> int:
        return sum(
            1
            for a in self.snapshot()
            if a.started >= moment and a.status is not None and a.status < 300 and op in (None, a.op)
        )

    def unavailable(self) -> list[Answer]:
        return [a for a in self.snapshot() if a.status == 503]

    def server_errors(self) -> list[Answer]:
        """5xx other than 503, and requests that got no HTTP answer at all."""
        return [a for a in self.snapshot() if a.status is None or (a.status >= 500 and a.status != 503)]

    def window_503(self) -> tuple[float, float] | None:
        """From the start of the first 503 request to the end of the last one."""
        answers = self.unavailable()
        if not answers:
            return None
        return min(a.started for a in answers), max(a.ended for a in answers)

    def max_seconds(self) -> float:
        return max((a.seconds for a in self.snapshot()), default=0.0)

    def summary(self) -> dict[str, object]:
        counts = self.statuses()
        window = self.window_503()
        return {
            "requests": sum(counts.values()),
            "201": counts.get(201, 0),
            "204": counts.get(204, 0),
            "2xx other": sum(n for s, n in counts.items() if s not in (201, 204) and str(s).startswith("2")),
            "503": counts.get(503, 0),
            "500": counts.get(500, 0),
            "other": {
                s: n for s, n in counts.items() if s != 503 and not str(s).startswith("2") and s != 500
            },
            "503 window s": round(window[1] - window[0], 2) if window else 0.0,
            "max latency s": round(self.max_seconds(), 2),
        }


def is_problem(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").startswith("application/problem+json")


def etag_of(response: requests.Response | None) -> str | None:
    return None if response is None else response.headers.get("ETag")


# --------------------------------------------------------------------------
# Customers owned by one client thread


@dataclass
class Write:
    value: str  # the address this write set
    acknowledged: bool
    etag: str | None = None


@dataclass
class Owned:
    """A customer one thread created and alone writes to, in order."""

    id: str
    name: str
    writes: list[Write] = field(default_factory=list)

    def acceptable(self) -> tuple[Write, set[str]]:
        """The last acknowledged write, and every address the customer may hold now.

        Writes are sequential, so the stored address must be the last
        acknowledged one, or that of a later write that got no 2xx (it may
        or may not have landed); anything else means an acknowledged write
        was lost.
        """
        last = max(i for i, write in enumerate(self.writes) if write.acknowledged)
        return self.writes[last], {write.value for write in self.writes[last:]}


def lost_writes(http: Http, customers: list[Owned]) -> list[str]:
    """Read every customer back; describe each acknowledged write that is not there."""
    lost = []
    for customer in customers:
        acknowledged, acceptable = customer.acceptable()
        response = http.get(f"/customers/{customer.id}", timeout=REQUEST_TIMEOUT)
        if response.status_code != 200:
            lost.append(f"{customer.id}: GET {response.status_code} after an acknowledged create")
            continue
        body = response.json()
        if body["name"] != customer.name:
            lost.append(f"{customer.id}: name {body['name']!r}, acknowledged {customer.name!r}")
        if body["address"] not in acceptable:
            lost.append(f"{customer.id}: address {body['address']!r}, acknowledged {acknowledged.value!r}")
        elif body["address"] == acknowledged.value and response.headers.get("ETag") != acknowledged.etag:
            lost.append(
                f"{customer.id}: ETag {response.headers.get('ETag')}, acknowledged {acknowledged.etag}"
            )
    return lost


def unfindable_by_email(http: Http, customers: list[Owned]) -> list[str]:
    """Each customer that ``GET /customers?email=`` does not find, exactly once, under its stored email."""
    unfindable = []
    for customer in customers:
        response = http.get(f"/customers/{customer.id}", timeout=REQUEST_TIMEOUT)
        email = response.json().get("email") if response.status_code == 200 else None
        if email is None:
            continue  # reported by lost_writes
        found = listing.listed_ids(
            partial(http.get, timeout=REQUEST_TIMEOUT), "/customers?" + urlencode({"email": email})
        )
        if found != [customer.id]:
            unfindable.append(f"{customer.id}: email {email!r} finds {found}")
    return unfindable


def listed_ids(http: Http, page_size: int = 500, max_pages: int = 100) -> list[str]:
    """Every listed id, in big pages, each request with the fault tests' timeout."""
    get = partial(http.get, timeout=REQUEST_TIMEOUT)
    return listing.listed_ids(get, f"/customers?limit={page_size}", max_pages)


# --------------------------------------------------------------------------
# Running client threads


class Load:
    """Client threads running ``target(index, http, tally, load)`` until told to stop.

    Each thread gets its own Http session (closed when it returns) and must
    check ``load.running(requests_done)`` before each request.
    """

    def __init__(self, url: str, threads: int, seconds: float, max_requests: int) -> None:
        self.url = url
        self.tally = Tally()
        self.deadline = time.monotonic() + seconds
        self.max_requests = max_requests
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self.count = threads

    def running(self, done: int) -> bool:
        return not self._stop.is_set() and done < self.max_requests and time.monotonic() < self.deadline

    def start(self, target) -> Load:
        def run(index: int) -> None:
            try:
                with Http(self.url) as http:
                    target(index, http, self.tally, self)
            except BaseException as exc:
                self._errors.append(exc)

        for index in range(self.count):
            thread = threading.Thread(target=run, args=(index,), name=f"load-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def wait_until(self, condition, timeout: float, poll: float = 0.05) -> bool:
        """Wait for ``condition()`` while the load runs; False on timeout or when it ended."""
        deadline = min(time.monotonic() + timeout, self.deadline)
        while time.monotonic() < deadline:
            if condition():
                return True
            if not any(thread.is_alive() for thread in self._threads):
                return condition()
            time.sleep(poll)
        return condition()

    def finish(self) -> None:
        """Let the threads end by themselves (they are bounded), then stop."""
        for thread in self._threads:
            thread.join(max(0.0, self.deadline - time.monotonic()) + REQUEST_TIMEOUT)
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT + 5)
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        assert not alive, f"client threads did not stop: {alive}"
        if self._errors:
            raise self._errors[0]

    def __enter__(self) -> Load:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT + 5)


# --------------------------------------------------------------------------
# Cluster topology and faults


@dataclass(frozen=True)
class NodeInfo:
    id: str
    port: int
    flags: frozenset[str]
    primary_id: str | None
    slots: tuple[str, ...]

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags


def cluster_nodes(node: RedisNode) -> list[NodeInfo]:
    """CLUSTER NODES as one node sees it."""
    with node.connection() as conn:
        text = conn.execute_command("CLUSTER", "NODES")
    infos = []
    for line in text.splitlines():
        fields = line.split()
        port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
        primary = None if fields[3] == "-" else fields[3]
        infos.append(NodeInfo(fields[0], port, frozenset(fields[2].split(",")), primary, tuple(fields[8:])))
    return infos


def node_by_port(cluster: LocalCluster, port: int) -> RedisNode:
    return next(node for node in cluster.nodes if node.port == port)


def slot_of(key: str) -> int:
    return redis.crc.key_slot(key.encode())


def owner_of_slot(cluster: LocalCluster, slot: int) -> tuple[NodeInfo, list[NodeInfo]]:
    """The primary serving ``slot`` (as a running node sees it), and all nodes."""
    observer = next(node for node in cluster.nodes if node.running)
    infos = cluster_nodes(observer)
    for info in infos:
        if info.is_primary and serves(info.slots, slot):
            return info, infos
    raise AssertionError(f"no primary serves slot {slot}")


def replica_of(infos: list[NodeInfo], primary: NodeInfo) -> NodeInfo:
    return next(info for info in infos if info.primary_id == primary.id)


def role(node: RedisNode) -> str | None:
    try:
        with node.connection() as conn:
            return conn.execute_command("ROLE")[0]
    except redis.RedisError:
        return None


def cluster_state_ok(node: RedisNode) -> bool:
    try:
        with node.connection() as conn:
            return "cluster_state:ok" in conn.execute_command("CLUSTER", "INFO")
    except redis.RedisError:
        return False


def open_slots(cluster: LocalCluster) -> list[str]:
    """Slots some node still marks as migrating or importing."""
    found = []
    for node in cluster.nodes:
        for info in cluster_nodes(node):
            found.extend(f"{node.port}: {spec}" for spec in info.slots if is_open(spec))
    return found


def start_reshard(
    cluster: LocalCluster, source_id: str, target_id: str, slots: int, log_path: Path
) -> subprocess.Popen[bytes]:
    """``redis-cli --cluster reshard`` in the background; its output goes to ``log_path``."""
    command = [
        redis_cli_binary(),
        "--cluster",
        "reshard",
        f"127.0.0.1:{cluster.ports[0]}",
        "--cluster-from",
        source_id,
        "--cluster-to",
        target_id,
        "--cluster-slots",
        str(slots),
        "--cluster-yes",
    ]
    with log_path.open("ab") as log:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
