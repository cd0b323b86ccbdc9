"""flask customers export / import / check-config, run as an operator would,
against real servers."""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import pty
import random
import subprocess
import sys
import time
import uuid
from decimal import Decimal

from app import json_codec
from app.ops.acl import access_string
from tests.support.backends import (
    APP_PASSWORD,
    LEAST_PRIVILEGE,
    cluster_env,
    standalone_env,
    tls_cluster_env,
)
from tests.support.figures import record
from tests.support.listing import pages
from tests.support.redis_servers import LocalCluster, free_port
from tests.support.service import REPO, run_customers, service_environment

ROUND_TRIP_CUSTOMERS = 100_000


# Imports and exports of up to ROUND_TRIP_CUSTOMERS take longer than a check.
flask = functools.partial(run_customers, timeout=300)


def customer_lines(count: int, seed: int = 1) -> list[str]:
    """NDJSON lines of valid customers, with every optional field sometimes absent."""
    rng = random.Random(seed)
    return [
        json_codec.dumps(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "name": f"Customer {i} Ünïcode",
                "email": f"c{i}@example.com" if i % 3 else None,
                "phone": f"+1 555 {i:07d}" if i % 2 else None,
                "address": f"{i} Main St\nSpringfield" if i % 5 else None,
                "balance": Decimal(rng.randint(-(10**8), 10**8)) / 100,
                "created_at": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.{i % 10**6:06d}Z",
                "metadata": {"crm_id": f"crm-{i}", "note": f'"{i}", ünï\n'} if i % 4 else {},
            }
        ).decode()
        + "\n"
        for i in range(count)
    ]


def every_hash(client) -> dict[str, dict[str, str]]:
    keys = sorted(client.scan_iter("customer:*", count=1000))
    found = {}
    for start in range(0, len(keys), 1000):
        pipe = client.pipeline(transaction=False)
        for key in keys[start : start + 1000]:
            pipe.hgetall(key)
        found.update(zip(keys[start : start + 1000], pipe.execute(), strict=True))
    return found


def without_tokens(hashes: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {key: {k: v for k, v in fields.items() if k != "email_token"} for key, fields in hashes.items()}


def throughput(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_export_then_import_into_an_empty_cluster_is_exact(cluster, tmp_path):
    cluster.flushall()
    source = tmp_path / "source.ndjson"
    source.write_text("".join(customer_lines(ROUND_TRIP_CUSTOMERS)))
    loaded = flask(cluster_env(cluster), "import", str(source))
    record("data tools", f"import {ROUND_TRIP_CUSTOMERS:,} (cluster): {throughput(loaded)}")

    exported_file = tmp_path / "export.ndjson"
    exported = flask(cluster_env(cluster), "export", "--output", str(exported_file))
    record("data tools", f"export (cluster): {throughput(exported)}")
    assert exported_file.read_text().count("\n") == ROUND_TRIP_CUSTOMERS

    with LocalCluster(tmp_path / "empty", extra_config=LEAST_PRIVILEGE).start() as empty:
        restored = flask(cluster_env(empty), "import", str(exported_file))
        record("data tools", f"import of the export (empty cluster): {throughput(restored)}")
        with cluster.client() as source_client, empty.client() as copy_client:
            original, copy = every_hash(source_client), every_hash(copy_client)
            assert len(original) == ROUND_TRIP_CUSTOMERS
            # Every key, every field, every value; but email_token, which names the
            # email index entry of the write that made it, so each import makes its own.
            assert all(("email" in h) == ("email_token" in h) for h in copy.values())
            assert without_tokens(copy) == without_tokens(original)
            index = copy_client.zrange("customers:index", 0, -1)
            assert len(index) == ROUND_TRIP_CUSTOMERS
            assert index == source_client.zrange("customers:index", 0, -1)


def test_bad_records_are_reported_by_line_and_skipped_or_reject_the_file(standalone, tmp_path):
    standalone.client().flushall()
    good = customer_lines(3)
    path = tmp_path / "mixed.ndjson"
    path.write_text(
        good[0]
        + '{"id": "not-a-uuid", "name": "A"}\n'
        + good[1]
        + "{oops\n"
        + json.dumps({"id": str(uuid.uuid4()), "name": "B", "balance": 1.234})
        + "\n"
        + good[2]
    )
    env = standalone_env(standalone)

    strict = flask(env, "import", "--strict", str(path))
    assert strict.returncode != 0
    assert "line 2: id: must be a UUID" in strict.stderr
    assert "line 4: not JSON" in strict.stderr
    assert "line 5: balance:" in strict.stderr
    assert "nothing imported" in strict.stderr
    assert list(standalone.client().scan_iter("customer:*")) == []

    lenient = flask(env, "import", str(path))
    assert lenient.returncode == 3, "some records skipped"
    assert "created 0, restored 3, already present 0, skipped 3 bad records" in lenient.stderr
    assert len(list(standalone.client().scan_iter("customer:*"))) == 3


def test_import_is_idempotent_by_id_and_reads_csv(standalone, tmp_path):
    client = standalone.client()
    client.flushall()
    rows = [json_codec.loads(line.encode()) for line in customer_lines(50, seed=7)]
    path = tmp_path / "customers.csv"
    with path.open("w", newline="") as out:
        columns = ["id", "name", "email", "phone", "address", "balance", "created_at", "metadata"]
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        for row in rows:  # a metadata cell is the object as JSON text
            row["metadata"] = json_codec.dumps(row["metadata"]).decode()
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    env = standalone_env(standalone)
    assert flask(env, "import", str(path)).returncode == 0
    first = every_hash(client)
    assert flask(env, "import", str(path)).returncode == 0
    second = every_hash(client)
    assert len(first) == 50
    # Same customers, same fields; only updated_at (not in the file: "now") and
    # email_token (each write of an email makes its own) may move.
    moving = ("updated_at", "email_token")
    strip = {k: {f: v for f, v in h.items() if f not in moving} for k, h in first.items()}
    assert strip == {k: {f: v for f, v in h.items() if f not in moving} for k, h in second.items()}
    assert client.zcard("customers:index") == 50
    emails = [key for key in client.scan_iter("customers:email:*")]
    assert sum(client.zcard(key) for key in emails) == sum("email" in h for h in second.values()), (
        "no stale entry"
    )
    assert client.hget(f"customer:{rows[5]['id']}", "metadata.note") == '"5", ünï\n'
    assert not [f for f in client.hgetall(f"customer:{rows[4]['id']}") if f.startswith("metadata.")]
    some = rows[4]
    assert (
        client.hget(f"customer:{some['id']}", "balance") == str(some["balance"]).rstrip("0").rstrip(".")
        or "0"
    )


def test_progress_stays_quiet_when_stderr_is_not_a_terminal(standalone, tmp_path):
    standalone.client().flushall()
    path = tmp_path / "few.ndjson"
    path.write_text("".join(customer_lines(2500)))
    result = flask(standalone_env(standalone), "import", str(path))
    assert "\r" not in result.stderr
    assert result.stderr.startswith("created 0, restored 2,500, already present 0, skipped 0 bad records, in")
    assert len(result.stderr.splitlines()) == 1, "only the summary, no running count"
    exported = flask(standalone_env(standalone), "export")
    assert len(exported.stdout.splitlines()) == 2500
    assert all(line.startswith("{") for line in exported.stdout.splitlines())


def new_people(count: int, start: int = 0) -> list[dict[str, str]]:
    """Customers as another system has them: no id of ours, no timestamps."""
    return [
        {"name": f"Person {i} Ünïcode", "email": f"Person.{i}@example.com", "balance": f"{i}.25"}
        for i in range(start, start + count)
    ]


def listing(backend) -> list[dict]:
    return [c for page in pages(backend.http.get, "/customers?limit=97") for c in page.json()]


def test_records_without_ids_import_on_the_cluster_and_are_served(on_cluster, cluster, tmp_path):
    # Every primary forgets the scripts: the import must load its own, not rely on NOSCRIPT.
    on_cluster.redis.script_flush()
    restored = [json_codec.loads(line.encode()) for line in customer_lines(20, seed=3)]
    for n, customer in enumerate(restored):
        customer["created_at"] = f"2020-01-01T00:00:{n:02d}Z"  # before any "now"
    people = new_people(300)
    lines = [json.dumps(person) for person in people]
    for n, customer in enumerate(restored):  # a record with an id every 15 lines
        lines.insert(n * 15, json_codec.dumps(customer).decode())
    lines.insert(149, json.dumps({"name": " ", "email": "blank@example.com"}))  # line 150
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(lines) + "\n")

    result = flask(cluster_env(cluster), "import", "--batch-size", "64", str(path))
    assert result.returncode == 3, result.stderr
    assert "line 150: name: String should have at least 1 character" in result.stderr
    assert "created 300, restored 20, already present 0, skipped 1 bad record, in" in result.stderr

    shown = listing(on_cluster)
    assert [c["id"] for c in shown[:20]] == [c["id"] for c in restored]
    assert [(c["name"], c["email"]) for c in shown[20:]] == [(p["name"], p["email"]) for p in people]
    assert len({c["id"] for c in shown}) == 320
    assert shown[25]["balance"] == 5.25
    for customer in shown[::7]:
        assert on_cluster.http.get(f"/customers/{customer['id']}").json() == customer
    owners = {on_cluster.redis.get_node_from_key(f"customer:{c['id']}").name for c in shown[20:]}
    assert len(owners) == 3, "spread over every primary"


def test_a_csv_rerun_with_key_field_email_creates_nothing_new(on_cluster, cluster, tmp_path):
    path = tmp_path / "people.csv"
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, ["name", "email", "balance"])
        writer.writeheader()
        writer.writerows(new_people(200))
    env = cluster_env(cluster)

    first = flask(env, "import", "--key-field", "email", "--batch-size", "50", str(path))
    assert first.returncode == 0, first.stderr
    assert "created 200, restored 0, already present 0, skipped 0 bad records" in first.stderr
    before, index = listing(on_cluster), on_cluster.redis.zrange("customers:index", 0, -1)
    assert [c["name"] for c in before] == [p["name"] for p in new_people(200)]

    again = flask(env, "import", "--key-field", "email", str(path))
    assert again.returncode == 0, again.stderr
    assert "created 0, restored 0, already present 200, skipped 0 bad records" in again.stderr
    assert listing(on_cluster) == before, "same ids, fields and timestamps"
    assert on_cluster.redis.zrange("customers:index", 0, -1) == index


def test_unknown_columns_are_named_once_and_refuse_the_file_unless_ignored(on_cluster, cluster, tmp_path):
    path = tmp_path / "crm.csv"
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, ["name", "email", "balance", "crm_id"])
        writer.writeheader()
        writer.writerows({**person, "crm_id": f"C-{n}"} for n, person in enumerate(new_people(30)))
    env = cluster_env(cluster)

    refused = flask(env, "import", str(path))
    assert refused.returncode == 1
    assert refused.stderr.count("crm_id") == 1
    assert "unknown columns: crm_id; known: id, name, email" in refused.stderr
    # (The service's own events sweep may hold its lease key meanwhile.)
    written = [k for k in on_cluster.redis.scan_iter("customer*") if not k.startswith("customers:events:")]
    assert written == [], "nothing written"

    ignored = flask(env, "import", "--ignore-unknown", str(path))
    assert ignored.returncode == 0, ignored.stderr
    assert ignored.stderr.count("crm_id") == 1
    assert "ignoring unknown columns: crm_id" in ignored.stderr
    assert [c["email"] for c in listing(on_cluster)] == [p["email"] for p in new_people(30)]


def test_check_config_reports_topology_tls_and_permissions(cluster):
    result = flask(cluster_env(cluster), "check-config", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "cluster: 3 primaries, 3 replicas (" in out
    assert "slots covered: 16384/16384" in out
    assert "TLS: off" in out
    assert "permissions: 29/29 commands allowed" in out
    assert APP_PASSWORD not in out
    assert "DBPASSWORD           (set, hidden)" in out


def test_check_config_over_tls(tls_cluster, certificates):
    result = flask(tls_cluster_env(tls_cluster, certificates), "check-config", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"TLS: on, server certificate verified against {certificates.ca}, with a client certificate"
        in result.stdout
    )


def test_check_config_names_the_commands_a_user_may_not_run(standalone):
    admin = standalone.client()
    admin.execute_command(
        "ACL",
        "SETUSER",
        "narrow",
        "reset",
        *access_string().replace("+wait ", "").split(),
        ">narrow-password-1234",
    )
    env = {"REDIS_URL": f"redis://narrow:narrow-password-1234@127.0.0.1:{standalone.port}"}
    result = flask(env, "check-config", timeout=60)
    assert result.returncode == 1
    assert "PROBLEM: the database user may not run: wait" in result.stdout
    assert not list(admin.scan_iter("customers:check:*")), "scratch keys are deleted"


def test_check_config_fails_clearly_without_a_database():
    env = {
        "DBHOST": "127.0.0.1",
        "DBPORT": str(free_port()),
        "DBTLS": "false",
        "REDIS_CLUSTER": "false",
        "DB_CONNECT_TIMEOUT": "0.5",
    }
    started = time.monotonic()
    result = flask(env, "check-config", timeout=60)
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    assert "PROBLEM: cannot use the database: ConnectionError" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def on_a_terminal(env: dict[str, str], *args: str) -> str:
    """What a person sees: the command's stdout and stderr, both on one pseudo-terminal."""
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "customers", *args],
        cwd=REPO,
        env=service_environment(env),
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    ) as process:
        os.close(terminal)
        chunks = []
        with contextlib.suppress(OSError):  # EIO once the command has exited
            while chunk := os.read(controller, 4096):
                chunks.append(chunk)
        process.wait(timeout=60)
    os.close(controller)
    return b"".join(chunks).decode()


def test_cli_output_carries_no_json_log_lines_on_a_terminal_or_a_pipe(tmp_path):
    env = {"DATA_DIR": str(tmp_path / "data")}  # the embedded store, whose start is logged
    piped = flask(env, "check-config", timeout=60)
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert not [line for line in piped.stdout.splitlines() if line.startswith("{")]
    # The warning still reaches the person, as plain text on stderr.
    assert piped.stderr.startswith("no database configured: serving from the embedded store")
    seen = on_a_terminal(env, "check-config")
    assert "OK: the service can work with this database" in seen
    assert not [line for line in seen.splitlines() if line.startswith("{")]
