"""Ingest: attribution first, nothing lost, nothing loaded twice (spec §2.1, §5.2)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tenantproof.analytics.reconcile import reconcile
from tenantproof.core.policy import load_policy
from tenantproof.core.sources import ACCESS_HISTORY, AUDIT_EVENTS, EVIDENCE_EVENTS, SOURCES, TENANTS
from tenantproof.core.warehouse import connect
from tenantproof.demo.generate import generate
from tenantproof.ingest import load as ingest
from tenantproof.ingest.load import CountMismatch, ingest_source, quarantine_counts

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


ACCESS_ROW = (
    "2026-10-03T12:00:00Z,t1,u9,,platform_support,impersonation,bob@nw.example,ticket 42,s1,"
    "sup@platform.example,198.51.100.2"
)


def load(con, landing: Path, *sources):
    policy = load_policy()
    return [ingest_source(con, landing, s, policy) for s in sources]


def evidence_parquet(path: Path, ids: list[str], **extra: list[object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {
        "control_id": "AC-1",
        "tenant_id": "t1",
        "global_scope": None,
        "scope_justification": None,
        "service_id": None,
        "observed_at": "2026-10-03T12:00:00Z",
        "status": "pass",
        "source": "scanner",
        "artefact_uri": "s3://evidence/1",
    }
    columns = {"evidence_id": ids, **{k: [v] * len(ids) for k, v in row.items()}, **extra}
    pq.write_table(pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()}), path)


def ledger(con, source: str) -> list[tuple]:
    return con.execute(
        "select path, rows_read, rows_loaded, rows_quarantined, unexpected_fields "
        "from raw.file_ledger where source = ? order by path",
        [source],
    ).fetchall()


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


def test_an_unreadable_file_is_quarantined_once_and_loads_once_fixed(landing: Path, tmp_path: Path):
    bad = landing / "evidence_events" / "a.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"PAR1 not really parquet")
    evidence_parquet(landing / "evidence_events" / "b.parquet", ["v2"])
    con = connect(tmp_path / "w.duckdb")
    load(con, landing, TENANTS)
    (report,) = load(con, landing, EVIDENCE_EVENTS)
    # the readable file of the same delivery loaded; the unreadable one is one quarantine row
    assert con.execute("select evidence_id from raw.evidence_events").fetchall() == [("v2",)]
    assert con.execute("select file, line, reason_code, reason from raw.quarantine").fetchall() == [
        (
            "evidence_events/a.parquet",
            None,
            "unreadable_file",
            "cannot be read as parquet: Invalid Input Error: No magic bytes found at end of file "
            "'evidence_events/a.parquet'",
        )
    ]
    assert [(f.path, f.status) for f in report.files] == [
        ("evidence_events/a.parquet", "quarantined"),
        ("evidence_events/b.parquet", "loaded"),
    ]
    assert [r[:4] for r in ledger(con, "evidence_events")] == [
        ("evidence_events/a.parquet", 1, 0, 1),
        ("evidence_events/b.parquet", 1, 1, 0),
    ]
    # fixed (other bytes): it is read
    evidence_parquet(bad, ["v1"])
    (report,) = load(con, landing, EVIDENCE_EVENTS)
    assert (report.read, report.loaded) == (1, 1)
    assert [f.status for f in report.files] == ["loaded", "already_loaded"]


# -- a line that is not UTF-8 is quarantined, not its file --


def test_a_jsonl_line_that_is_not_utf8_is_quarantined_and_the_rest_loads(
    landing: Path, tmp_path: Path
):
    latin1 = event("e3", action="caf\u00e9").encode().replace(b"\\u00e9", b"\xe9")
    (landing / "audit_events" / "a.jsonl").write_bytes(
        event("e1").encode()
        + b"\n\xff\xfe not utf-8\n\n"
        + latin1
        + b"\n"
        + event("e4", tenant="t9999").encode()
        + b"\n"
    )
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS, AUDIT_EVENTS)
    assert (report.read, report.loaded, report.quarantined) == (4, 1, 3)
    assert con.execute("select event_id from raw.audit_events").fetchall() == [("e1",)]
    rows = con.execute(
        "select file, line, reason_code, reason, record from raw.quarantine order by line"
    ).fetchall()
    assert [r[:4] for r in rows] == [
        ("audit_events/a.jsonl", 2, "malformed", "malformed line: not UTF-8 at byte 1 (0xff)"),
        (
            "audit_events/a.jsonl",
            4,
            "malformed",
            f"malformed line: not UTF-8 at byte {latin1.index(0xE9) + 1} (0xe9)",
        ),
        (
            "audit_events/a.jsonl",
            5,
            "unknown_tenant",
            "unknown tenant t9999 (not in the tenant registry)",
        ),
    ]
    # nothing is replaced: the undecodable bytes are kept, written as \xNN
    assert rows[0][4] == "\\xff\\xfe not utf-8"
    assert '"action": "caf\\xe9"' in rows[1][4]
    assert ledger(con, "audit_events") == [("audit_events/a.jsonl", 4, 1, 3, "[]")]


def test_a_csv_line_that_is_not_utf8_is_quarantined_and_the_rest_loads(
    landing: Path, tmp_path: Path
):
    (landing / "access_history").mkdir()
    (landing / "access_history" / "a.csv").write_bytes(
        (",".join(ACCESS_HISTORY.columns) + "\n" + f"x1,{ACCESS_ROW}\n").encode()
        + f"x2,{ACCESS_ROW}\n".replace("bob", "b\u00f6b").encode("latin-1")
        + ("x3," + ACCESS_ROW.replace("ticket 42", '"ticket\n42"') + "\n").encode()
    )
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS, ACCESS_HISTORY)
    assert (report.read, report.loaded, report.quarantined) == (3, 2, 1)
    loaded = "select access_id, reason from raw.access_history order by 1"
    assert con.execute(loaded).fetchall() == [("x1", "ticket 42"), ("x3", "ticket\n42")]
    assert con.execute("select line, reason_code, reason from raw.quarantine").fetchall() == [
        (3, "malformed", "malformed line: not UTF-8 at byte 64 (0xf6)")
    ]


def test_a_csv_with_a_blank_line_loads_with_its_line_numbers(landing: Path, tmp_path: Path):
    (landing / "access_history").mkdir()
    (landing / "access_history" / "a.csv").write_text(
        ",".join(ACCESS_HISTORY.columns) + f"\nx1,{ACCESS_ROW}\n\nx2,{ACCESS_ROW[:20]}\n"
    )
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS, ACCESS_HISTORY)
    assert (report.read, report.loaded, report.quarantined) == (2, 1, 1)
    assert con.execute("select line, reason_code from raw.quarantine").fetchall() == [
        (4, "malformed")
    ]


# -- the three counts are taken apart, and a load whose counts do not add up is refused --


def _reader_skips_a_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that drops a record on the way in (as one set to skip what it cannot read)."""
    parse = ingest.PARSERS["jsonl"]

    def lossy(con, *args):
        parsed = parse(con, *args)
        con.execute("delete from _parsed where _line = 2")
        return parsed

    monkeypatch.setitem(ingest.PARSERS, "jsonl", lossy)


def _quarantine_write_drops_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quarantine write that loses a row it was given (as a filter that misses a reason)."""
    route = ingest.check_and_route

    def lossy(con, source, policy):
        route(con, source, policy)
        con.execute("delete from raw.quarantine where line = 3")

    monkeypatch.setattr(ingest, "check_and_route", lossy)


@pytest.mark.parametrize(
    ("plant", "counts"),
    [
        (_reader_skips_a_record, "read 3, loaded 1, quarantined 1"),
        (_quarantine_write_drops_a_row, "read 3, loaded 2, quarantined 0"),
    ],
)
def test_a_row_lost_on_the_way_is_caught_and_nothing_loads(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plant, counts: str
):
    (landing / "audit_events" / "a.jsonl").write_text(
        "\n".join([event("e1"), event("e2"), event("e3", tenant=None)]) + "\n"
    )
    (landing / "audit_events" / "b.jsonl").write_text(event("e4") + "\n")
    con = connect(tmp_path / "w.duckdb")
    load(con, landing, TENANTS)
    plant(monkeypatch)
    with pytest.raises(CountMismatch, match=f"audit_events/a.jsonl: {counts}$"):
        load(con, landing, AUDIT_EVENTS)
    # the whole load was refused: nothing of either file is loaded, quarantined or ledgered
    assert con.execute("select count(*) from raw.audit_events").fetchone() == (0,)
    assert con.execute("select count(*) from raw.quarantine").fetchone() == (0,)
    assert ledger(con, "audit_events") == []
    monkeypatch.undo()
    (report,) = load(con, landing, AUDIT_EVENTS)
    assert [(f.read, f.loaded, f.quarantined) for f in report.files] == [(3, 2, 1), (1, 1, 0)]


def _stub_marts(con) -> None:
    """The marts reconcile reads, as plain views over the raw tables (no dbt build here)."""
    con.execute("create schema marts")
    con.execute(
        "create view marts.fct_audit_events as select event_id, case when tenant_id is null "
        "then 'global_scope' else 'tenant' end as attribution from raw.audit_events"
    )
    con.execute("create table marts.fct_global_exclusions (source varchar)")
    con.execute(
        "create view marts.fct_evidence as select * from raw.evidence_events "
        "where tenant_id is not null"
    )
    con.execute(
        "create view marts.fct_shared_service_evidence as select * from raw.evidence_events "
        "where tenant_id is null"
    )
    con.execute("create view marts.fct_access_history as select * from raw.access_history")


def test_reconcile_counts_rows_where_they_are_not_in_the_ledger(landing: Path, tmp_path: Path):
    (landing / "audit_events" / "a.jsonl").write_text(
        "\n".join([event("e1"), event("e2", tenant=None), event("e3", tenant="t9999")]) + "\n"
    )
    con = connect(tmp_path / "w.duckdb")
    load(con, landing, TENANTS, AUDIT_EVENTS, ACCESS_HISTORY, EVIDENCE_EVENTS)
    _stub_marts(con)
    audit = {r.source: r for r in reconcile(con)}["audit_events"]
    assert (audit.read, audit.loaded, audit.quarantined, audit.balanced) == (3, 1, 2, True)
    # a quarantined row removed without its ledger row following (as a purge that forgets it)
    con.execute("delete from raw.quarantine where line = 3")
    audit = {r.source: r for r in reconcile(con)}["audit_events"]
    assert (audit.read, audit.loaded, audit.quarantined, audit.balanced) == (3, 1, 1, False)


# -- fields a file carries that its mapping does not read are named and kept, never dropped --


def test_unmapped_fields_are_named_per_file_and_kept_on_the_row(landing: Path, tmp_path: Path):
    from orchestration.ingest import _metadata

    # every line a JSON object (DuckDB's reader), the extra field on the last line only
    (landing / "audit_events" / "a.jsonl").write_text(
        "\n".join([event("e1"), event("e2"), event("e3", colour="red", size=3)]) + "\n"
    )
    # a malformed line too (parsed line by line)
    (landing / "audit_events" / "b.jsonl").write_text(
        event("e4", colour="blue", details={"tenant_id": "t2"}) + "\n{not json\n"
    )
    (landing / "audit_events" / "c.jsonl").write_text(event("e5") + "\n")
    evidence_parquet(landing / "evidence_events" / "v.parquet", ["v1"], scanner_build=["42"])
    con = connect(tmp_path / "w.duckdb")
    _, audit, evidence = load(con, landing, TENANTS, AUDIT_EVENTS, EVIDENCE_EVENTS)
    assert (audit.read, audit.loaded, audit.quarantined) == (6, 5, 1)
    assert audit.unexpected_fields() == {
        "audit_events/a.jsonl": ["colour", "size"],
        "audit_events/b.jsonl": ["colour"],
    }
    assert audit.warnings() == [
        "audit_events/a.jsonl: field(s) colour, size not mapped by audit_events: kept as JSON "
        "in raw.audit_events._unmapped",
        "audit_events/b.jsonl: field(s) colour not mapped by audit_events: kept as JSON in "
        "raw.audit_events._unmapped",
    ]
    assert audit.metadata()["files_with_unexpected_fields"] == 2
    assert [(r[0], r[4]) for r in ledger(con, "audit_events")] == [
        ("audit_events/a.jsonl", '["colour", "size"]'),
        ("audit_events/b.jsonl", '["colour"]'),
        ("audit_events/c.jsonl", "[]"),
    ]
    loaded = (
        "select event_id, tenant_id, details, _unmapped, _source, _source_version "
        "from raw.audit_events order by 1"
    )
    assert con.execute(loaded).fetchall() == [
        ("e1", "t1", None, None, "audit_events", 1),
        ("e2", "t1", None, None, "audit_events", 1),
        ("e3", "t1", None, '{"colour":"red","size":3}', "audit_events", 1),
        ("e4", "t1", '{"tenant_id":"t2"}', '{"colour":"blue"}', "audit_events", 1),
        ("e5", "t1", None, None, "audit_events", 1),
    ]
    # each row's record hash is the sha256 of its line as delivered
    lines = (landing / "audit_events" / "a.jsonl").read_text().splitlines()
    hashes = con.execute(
        "select _record_sha256 from raw.audit_events where _file = 'audit_events/a.jsonl' "
        "order by _line"
    ).fetchall()
    assert hashes == [(hashlib.sha256(line.encode()).hexdigest(),) for line in lines]
    meta = _metadata(audit, {})
    assert meta["unmapped_fields"].value == audit.unexpected_fields()
    assert evidence.unexpected_fields() == {"evidence_events/v.parquet": ["scanner_build"]}
    assert (evidence.loaded, evidence.quarantined) == (1, 0)


def test_a_ledger_from_before_gains_the_unexpected_fields_column(landing: Path, tmp_path: Path):
    con = connect(tmp_path / "w.duckdb")
    con.execute("create schema raw")
    con.execute(
        """create table raw.file_ledger (
            source varchar, path varchar, sha256 varchar, rows_read bigint, rows_loaded bigint,
            rows_quarantined bigint, loaded_at timestamp, primary key (source, sha256))"""
    )
    con.execute("insert into raw.file_ledger values ('x', 'x/old.jsonl', 's', 1, 1, 0, now())")
    (landing / "audit_events" / "a.jsonl").write_text(event("e1", colour="red") + "\n")
    load(con, landing, TENANTS, AUDIT_EVENTS)
    assert ledger(con, "x") == [("x/old.jsonl", 1, 1, 0, None)]
    assert ledger(con, "audit_events") == [("audit_events/a.jsonl", 1, 1, 0, '["colour"]')]


def test_a_blank_scope_justification_is_no_justification(landing: Path, tmp_path: Path):
    lines = [
        event("g1", tenant=None, global_scope="platform", scope_justification=""),
        event("g2", tenant=None, global_scope="platform", scope_justification="   "),
        event("g3", tenant=None, global_scope="platform", scope_justification="key rotation"),
    ]
    (landing / "audit_events" / "g.jsonl").write_text("\n".join(lines) + "\n")
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS, AUDIT_EVENTS)
    assert (report.read, report.loaded, report.quarantined) == (3, 1, 2)
    assert con.execute(
        "select line, field, reason_code from raw.quarantine where source = 'audit_events' "
        "order by line"
    ).fetchall() == [
        (1, "scope_justification", "global_without_justification"),
        (2, "scope_justification", "global_without_justification"),
    ]


def test_a_csv_line_of_delimiters_is_a_record_not_a_blank_line(landing: Path, tmp_path: Path):
    header = ",".join(ACCESS_HISTORY.columns)
    empty = "," * (len(ACCESS_HISTORY.columns) - 1)
    (landing / "access_history").mkdir()
    # an undecodable line sends the file down the line-by-line reader
    (landing / "access_history" / "a.csv").write_bytes(
        f"{header}\nx1,{ACCESS_ROW}\n{empty}\n\n".encode() + b"bad \xe9 line\n"
    )
    con = connect(tmp_path / "w.duckdb")
    _, report = load(con, landing, TENANTS, ACCESS_HISTORY)
    assert (report.read, report.loaded, report.quarantined) == (3, 1, 2)
    lines = con.execute(
        "select line from raw.quarantine where source = 'access_history' order by line"
    ).fetchall()
    assert lines == [(3,), (5,)]
