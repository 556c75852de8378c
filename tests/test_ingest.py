"""Ingest: attribution first, nothing lost, nothing loaded twice (spec §2.1, §5.2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tenantproof.generate import generate
from tenantproof.ingest import ingest_source, quarantine_counts
from tenantproof.policy import load_policy
from tenantproof.sources import ACCESS_HISTORY, AUDIT_EVENTS, SOURCES, TENANTS
from tenantproof.warehouse import connect

TENANTS_CSV = """tenant_id,tenant_name,tenant_class,residency_region,onboarded_at,offboarded_at
t1,Northwind Traders,standard,eu,2025-01-01T00:00:00Z,
t2,Globex Systems,enterprise,us,2025-01-01T00:00:00Z,
t10,Initech Labs,regulated,eu,2025-01-01T00:00:00Z,
"""


def event(event_id: str, tenant: str | None = "t1", **extra: object) -> str:
    row = {
        "event_id": event_id,
        "occurred_at": "2026-10-03T12:00:00Z",
        "tenant_id": tenant,
        "action": "record.read",
        **extra,
    }
    return json.dumps(row)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    (root / "tenants").mkdir(parents=True)
    (root / "tenants" / "tenants.csv").write_text(TENANTS_CSV)
    (root / "audit_events").mkdir()
    return root


def load(con, landing: Path, *sources):
    policy = load_policy()
    return [ingest_source(con, landing, s, policy) for s in sources]


def test_each_bad_line_is_quarantined_with_file_line_and_reason(landing: Path, tmp_path: Path):
    lines = [
        event("e1"),
        event("e2", tenant=None),  # no tenant context
        '{"event_id": "e3", "occurred_at"',  # malformed
        "",  # blank lines are not rows
        event("e4", occurred_at="yesterday"),
        event("e5", tenant="t9999"),
        event("e6", tenant=None, global_scope="platform"),  # global without justification
        event(
            "e7",
            tenant=None,
            global_scope="platform",
            scope_justification="key rotation",
            service="svc-auth",
        ),
        event("e1"),  # duplicate within the file
    ]
    (landing / "audit_events" / "a.jsonl").write_text("\n".join(lines) + "\n")
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS, AUDIT_EVENTS)
    assert (report.read, report.loaded, report.quarantined) == (8, 2, 6)
    rows = con.execute(
        "select file, line, field, reason_code, reason from raw.quarantine "
        "where source = 'audit_events' order by line"
    ).fetchall()
    assert [(r[1], r[3]) for r in rows] == [
        (2, "no_tenant_context"),
        (3, "malformed"),
        (5, "type_error"),
        (6, "unknown_tenant"),
        (7, "global_without_justification"),
        (9, "duplicate_in_file"),
    ]
    assert all(r[0] == "audit_events/a.jsonl" for r in rows)
    assert rows[2][2] == "occurred_at" and "yesterday" in rows[2][4]
    assert "t9999" in rows[3][4]
    assert con.execute("select event_id from raw.audit_events order by 1").fetchall() == [
        ("e1",),
        ("e7",),
    ]


def test_rerun_and_redelivery_load_nothing_twice(landing: Path, tmp_path: Path):
    (landing / "audit_events" / "a.jsonl").write_text(event("e1") + "\n" + event("e2") + "\n")
    con = connect(tmp_path / "w.duckdb")
    load(con, landing, TENANTS, AUDIT_EVENTS)
    before = con.execute("select count(*) from raw.audit_events").fetchone()
    # the same run again, and the same file delivered again under another name
    shutil.copy(landing / "audit_events" / "a.jsonl", landing / "audit_events" / "a-again.jsonl")
    _, again = load(con, landing, TENANTS, AUDIT_EVENTS)
    assert [f.status for f in again.files] == ["already_loaded", "already_loaded"]
    assert con.execute("select count(*) from raw.audit_events").fetchone() == before
    # a new file repeating a loaded event id: quarantined, naming where it was loaded from
    (landing / "audit_events" / "b.jsonl").write_text(event("e2") + "\n" + event("e3") + "\n")
    _, third = load(con, landing, TENANTS, AUDIT_EVENTS)
    assert (third.read, third.loaded, third.quarantined) == (2, 1, 1)
    reason = con.execute(
        "select reason from raw.quarantine where reason_code = 'duplicate_already_loaded'"
    ).fetchone()[0]
    assert "e2" in reason and "audit_events/a.jsonl" in reason


def test_cross_tenant_write_into_a_declared_file_is_refused(landing: Path, tmp_path: Path):
    declared = landing / "audit_events" / "tenants" / "t2"
    declared.mkdir(parents=True)
    (declared / "d.jsonl").write_text(
        event("d1", tenant="t2") + "\n" + event("d2", tenant="t1") + "\n"
    )
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS, AUDIT_EVENTS)
    assert (report.loaded, report.quarantined) == (1, 1)
    reason = con.execute("select reason from raw.quarantine").fetchone()[0]
    assert reason == "cross-tenant write: file declared for tenant t2 holds a row for tenant t1"
    # the same row in a file declared for no tenant is a legitimate t1 row: the declaration
    # is what refused it above
    (landing / "audit_events" / "shared.jsonl").write_text(event("d2", tenant="t1") + "\n")
    _, shared = load(con, landing, TENANTS, AUDIT_EVENTS)
    assert (shared.loaded, shared.quarantined) == (1, 0)


def test_registry_rows_are_checked_against_the_policy(landing: Path, tmp_path: Path):
    (landing / "tenants" / "tenants.csv").write_text(
        TENANTS_CSV
        + "../t4,Evil Path,standard,eu,2025-01-01T00:00:00Z,\n"
        + "t5,Platinum Co,platinum,eu,2025-01-01T00:00:00Z,\n"
        + "t6,Short Row,standard\n"
    )
    con = connect(tmp_path / "w.duckdb")
    (report,) = load(con, landing, TENANTS)
    assert (report.read, report.loaded, report.quarantined) == (6, 3, 3)
    codes = dict(
        con.execute("select line, reason_code from raw.quarantine order by line").fetchall()
    )
    assert codes == {5: "invalid_tenant_id", 6: "unknown_class", 7: "malformed"}


def test_csv_access_history_needs_a_tenant(landing: Path, tmp_path: Path):
    (landing / "access_history").mkdir()
    (landing / "access_history" / "a.csv").write_text(
        ",".join(ACCESS_HISTORY.columns) + "\n"
        "x1,2026-10-03T12:00:00Z,t1,u9,,platform_support,impersonation,bob@nw.example,"
        "ticket 42,s1,sup@platform.example,198.51.100.2\n"
        "x2,2026-10-03T12:00:00Z,,u9,,,read,,,s2,a@b.example,192.0.2.1\n"
    )
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS, ACCESS_HISTORY)
    assert (report.loaded, report.quarantined) == (1, 1)
    assert con.execute("select line, field from raw.quarantine").fetchone() == (3, "tenant_id")


def test_generated_planted_problems_all_land_in_quarantine(tmp_path: Path):
    summary = generate(tmp_path, tenants=12, events=500, seed=3)
    con = connect(tmp_path / "w.duckdb")
    reports = load(con, tmp_path / "landing", *SOURCES.values())
    for r in reports:
        assert r.read == r.loaded + r.quarantined, r.source
    audit = quarantine_counts(con, "audit_events")
    assert audit["no_tenant_context"] == summary.planted["no_tenant_context"]
    assert audit["unknown_tenant"] == summary.planted["unknown_tenant"]
    assert audit["malformed"] == summary.planted["malformed_line"]
    assert audit["type_error"] == summary.planted["type_error"]
    assert audit["cross_tenant_write"] == summary.planted["cross_tenant_write"]
    assert audit["global_without_justification"] == summary.planted["global_without_justification"]
    access = quarantine_counts(con, "access_history")
    assert access == {"no_tenant_context": summary.planted["access_no_tenant"]}


def test_an_unreadable_file_is_named_and_loads_once_fixed(landing: Path, tmp_path: Path):
    from tenantproof.ingest import IngestError

    bad = landing / "audit_events" / "a.jsonl"
    bad.write_bytes(event("e1").encode() + b"\n\xff\xfe not utf-8\n")
    con = connect(tmp_path / "w.duckdb")
    load(con, landing, TENANTS)
    (landing / "audit_events" / "b.jsonl").write_text(event("e2") + "\n")
    with pytest.raises(IngestError, match="audit_events/a.jsonl: cannot be read as jsonl"):
        load(con, landing, AUDIT_EVENTS)
    # the readable file of the same delivery loaded; the unreadable one is not in the ledger
    assert con.execute("select event_id from raw.audit_events").fetchall() == [("e2",)]
    ledger = "select path from raw.file_ledger where source = 'audit_events'"
    assert con.execute(ledger).fetchall() == [("audit_events/b.jsonl",)]
    bad.write_text(event("e1") + "\n")
    (report,) = load(con, landing, AUDIT_EVENTS)
    assert (report.read, report.loaded) == (1, 1)
    assert [f.status for f in report.files] == ["loaded", "already_loaded"]
