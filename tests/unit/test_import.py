"""``flask customers import`` of records without ids, keyed re-runs, unknown fields and exit
statuses, over fakeredis with Flask's CLI runner (tests/integration/test_data_tools.py runs
the same on a real cluster)."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid

import pytest

from app.store.timestamps import parse_timestamp

pytestmark = pytest.mark.usefixtures("commands_on_fake")

PEOPLE = [
    {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0001", "balance": "10.50"},
    {"name": "Alan Turing", "email": "alan@example.com", "address": "Bletchley Park\nMilton Keynes"},
    {"name": "Grace Hopper", "email": "grace@example.com", "balance": "-3"},
]


def invoke(app, *args: str, stdin: str | None = None):
    return app.test_cli_runner().invoke(args=["customers", "import", *args], input=stdin)


def as_csv(rows: list[dict], columns=("name", "email", "phone", "address", "balance")) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def as_ndjson(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def write(tmp_path, fmt: str, rows: list[dict], name: str = "people") -> str:
    path = tmp_path / f"{name}.{fmt}"
    path.write_text(as_csv(rows) if fmt == "csv" else as_ndjson(rows), encoding="utf-8", newline="")
    return str(path)


def listed(client) -> list[dict]:
    return client.get("/customers").get_json()


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_records_without_ids_become_new_customers_in_file_order(app, client, redis_client, tmp_path, fmt):
    rows = [dict(row) for row in PEOPLE]
    if fmt == "ndjson":  # JSON numbers, as POST takes them
        for row in rows:
            if "balance" in row:
                row["balance"] = float(row["balance"])
    before = time.time()
    result = invoke(app, write(tmp_path, fmt, rows))
    assert result.exit_code == 0, result.output
    assert "created 3, restored 0, already present 0, skipped 0 bad records, in " in result.stderr

    shown = listed(client)
    assert [c["name"] for c in shown] == [p["name"] for p in PEOPLE]
    assert [c["balance"] for c in shown] == [10.5, 0, -3]
    assert shown[1]["address"] == "Bletchley Park\nMilton Keynes"
    for customer in shown:
        assert uuid.UUID(customer["id"]).version == 4
        assert client.get(f"/customers/{customer['id']}").get_json() == customer
        assert customer["created_at"] == customer["updated_at"]
        assert before - 1 < parse_timestamp(customer["created_at"]).timestamp() < time.time() + 1
        stored = redis_client.hget(f"customer:{customer['id']}", "created_at")
        assert stored.isdigit(), "stored as the service stores its own timestamps"
    assert redis_client.zcard("customers:index") == 3


def test_without_a_key_field_a_rerun_creates_the_customers_again(app, client, tmp_path):
    path = write(tmp_path, "csv", PEOPLE)
    for _ in range(2):
        assert invoke(app, path).exit_code == 0
    assert [c["name"] for c in listed(client)] == [p["name"] for p in PEOPLE] * 2


def test_a_rerun_with_key_field_email_creates_nothing(app, client, redis_client, tmp_path):
    first = invoke(app, "--key-field", "email", write(tmp_path, "csv", PEOPLE))
    assert first.exit_code == 0, first.output
    assert "created 3, restored 0, already present 0," in first.stderr
    before = listed(client)
    index = redis_client.zrange("customers:index", 0, -1)

    # The same people, their emails written differently, one renamed, one new.
    again = [dict(row) for row in PEOPLE] + [{"name": "Edsger Dijkstra", "email": "ewd@example.com"}]
    again[0]["email"] = "  ADA@Example.COM "
    again[2]["name"] = "Rear Admiral Grace Hopper"
    second = invoke(app, "--key-field", "email", write(tmp_path, "ndjson", again))
    assert second.exit_code == 0, second.output
    assert "created 1, restored 0, already present 3, skipped 0 bad records" in second.stderr
    assert listed(client)[:3] == before, "same ids, fields, created_at and updated_at"
    assert listed(client)[3]["name"] == "Edsger Dijkstra"
    assert redis_client.zrange("customers:index", 0, -1)[:3] == index
    assert redis_client.zcard("customers:index") == 4, "no entry left behind by the re-run"


def test_under_key_field_a_missing_key_or_a_duplicate_is_a_bad_record(app, client, tmp_path):
    rows = [*PEOPLE, {"name": "No Email"}, {"name": "Ada Again", "email": "Ada@example.com"}]
    result = invoke(app, "--key-field", "email", write(tmp_path, "csv", rows))
    assert result.exit_code == 3, result.output
    # Lines of the file, as an editor shows them: Alan's quoted address takes two.
    assert "line 6: email: is required as the key field" in result.stderr
    assert "line 7: email: duplicate of line 2 (the key field)" in result.stderr
    assert "created 3, restored 0, already present 0, skipped 2 bad records" in result.stderr
    assert [c["name"] for c in listed(client)] == [p["name"] for p in PEOPLE]


def test_a_mix_of_ids_no_ids_and_bad_lines_keeps_every_good_record(app, client, tmp_path):
    restored = {"id": str(uuid.uuid4()), "name": "Restored", "created_at": "2026-01-01T00:00:00.000001Z"}
    lines = [
        json.dumps({"name": "New One", "balance": 1}),
        json.dumps(restored),
        json.dumps({"id": "not-a-uuid", "name": "Malformed id"}),
        "{oops",
        json.dumps({"name": "New Two", "created_at": "2026-01-01T00:00:00Z"}),
        json.dumps({"name": "New Three", "email": "three@example.com"}),
    ]
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(lines) + "\n")
    result = invoke(app, str(path))
    assert result.exit_code == 3, result.output
    assert "line 3: id: must be a UUID" in result.stderr
    assert "line 4: not JSON" in result.stderr
    assert "line 5: created_at: is read-only" in result.stderr
    assert "created 2, restored 1, already present 0, skipped 3 bad records" in result.stderr
    assert [c["name"] for c in listed(client)] == ["Restored", "New One", "New Three"]
    assert client.get(f"/customers/{restored['id']}").get_json()["created_at"] == restored["created_at"]


def test_nothing_imported_exits_4_and_an_empty_file_exits_0(app, redis_client, tmp_path):
    result = invoke(app, write(tmp_path, "csv", [{"name": ""}, {"name": "x", "email": "nope"}]))
    assert result.exit_code == 4, result.output
    assert "line 2: name: is required" in result.stderr
    assert "skipped 2 bad records" in result.stderr
    assert redis_client.dbsize() == 0
    empty = tmp_path / "empty.ndjson"
    empty.write_text("")
    assert invoke(app, str(empty)).exit_code == 0


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_unknown_fields_refuse_the_file_unless_ignored_and_are_named_once(
    app, client, redis_client, tmp_path, fmt
):
    what = "columns" if fmt == "csv" else "fields"
    rows = [{**row, "customer_no": str(n), "notes": "x"} for n, row in enumerate(PEOPLE)]
    path = tmp_path / f"other-system.{fmt}"
    if fmt == "csv":
        path.write_text(as_csv(rows, ("name", "email", "customer_no", "notes")))
    else:
        path.write_text(as_ndjson([{"name": r["name"], "customer_no": r["customer_no"]} for r in rows[:2]]))
        path.write_text(path.read_text() + as_ndjson([{"name": "Third", "notes": "x"}]))
    refused = invoke(app, str(path))
    assert refused.exit_code == 1
    assert refused.stderr.count("customer_no") == 1
    assert f"unknown {what}: customer_no, notes; known: id, name, email, phone, address, balance" in (
        refused.stderr
    )
    assert "--ignore-unknown" in refused.stderr
    assert redis_client.dbsize() == 0, "nothing written"

    ignored = invoke(app, "--ignore-unknown", str(path))
    assert ignored.exit_code == 0, ignored.output
    assert ignored.stderr.count("customer_no") == 1
    assert f"ignoring unknown {what}: customer_no, notes" in ignored.stderr
    assert len(listed(client)) == 3


def test_a_spreadsheets_header_is_matched_in_any_case_with_a_bom(app, client, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("\ufeffName, Email ,BALANCE\r\nAda Lovelace,ada@example.com,2.5\r\n", encoding="utf-8")
    result = invoke(app, str(path))
    assert result.exit_code == 0, result.output
    assert [(c["name"], c["email"], c["balance"]) for c in listed(client)] == [
        ("Ada Lovelace", "ada@example.com", 2.5)
    ]


def test_strict_reads_standard_input_too_and_writes_nothing_if_a_record_is_bad(app, client, redis_client):
    bad = as_ndjson([*PEOPLE[:2], {"name": "Bad", "balance": "lots"}])
    refused = invoke(app, "--strict", "-", stdin=bad)
    assert refused.exit_code == 1
    assert "line 3: balance: must be a number" in refused.stderr
    assert "nothing imported (--strict)" in refused.stderr
    assert redis_client.dbsize() == 0
    good = invoke(app, "--strict", "--format", "csv", "-", stdin=as_csv(PEOPLE))
    assert good.exit_code == 0, good.output
    assert len(listed(client)) == 3


def test_help_explains_ids_the_key_field_and_exit_statuses(app):
    shown = invoke(app, "--help").output
    assert "--key-field [email]" in shown
    assert "creates it again" in shown
    for status in ("0  every record imported", "3  some bad records skipped", "4  nothing imported"):
        assert status in shown


def test_a_file_that_is_not_utf8_is_refused_whole_with_its_line(app, redis_client, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,address\nAda Lovelace,London\nJos\u00e9 Ortega,M\u00e1laga\n".encode("latin-1"))
    result = invoke(app, str(path))
    assert result.exit_code == 1
    assert "line 3: the file is not UTF-8 text" in result.stderr
    assert "Traceback" not in result.output
    assert redis_client.dbsize() == 0, "nothing written, not even the lines before"
