"""Tests for the seeded demo landing generator (the ingest code relies on its exact contract)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tenantproof.demo import generate as gen
from tenantproof.demo.generate import ACCESS_COLUMNS, AUDIT_COLUMNS, TENANT_COLUMNS, generate

CLASSES = ["standard", "enterprise", "regulated"]
CONTROLS = ["AC-1", "AC-2", "LOG-1"]
SERVICES = ["svc-auth", "svc-messaging", "svc-billing", "svc-observability"]
AS_OF = dt.date(2026, 11, 15)
OVERRIDES: dict[str, Any] = {
    "classes": CLASSES,
    "controls": CONTROLS,
    "services": SERVICES,
    "as_of": AS_OF,
}
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
TENANT_REF = re.compile(r"\bt\d+\b")
FORMULA_START = ("=", "+", "-", "@")
EXPECTED_PLANTED = {
    "no_tenant_context": 3,
    "global_without_justification": 1,
    "unknown_tenant": 2,
    "malformed_line": 2,
    "type_error": 2,
    "foreign_tenant_in_text": 3,
    "csv_formula_payload": 3,
    "admin_without_reason": 3,
    "cross_tenant_write": 1,
    "stale_control": 1,
    "access_no_tenant": 2,
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, gen.GenerateSummary]:
    home = tmp_path_factory.mktemp("small")
    return home, generate(home, tenants=12, events=5000, seed=7, **OVERRIDES)


def _landing(home: Path) -> Path:
    return home / "landing"


def _tenants(home: Path) -> list[dict[str, str]]:
    with (_landing(home) / "tenants" / "tenants.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _audit_files(home: Path) -> list[Path]:
    return sorted((_landing(home) / "audit_events").rglob("*.jsonl"))


def _bulk_audit(home: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((_landing(home) / "audit_events").glob("part-[0-9]*.jsonl")):
        rows += [json.loads(x) for x in path.read_text().splitlines()]
    return rows


def _parsed_audit(home: Path) -> tuple[list[dict[str, Any]], int]:
    """All parseable audit rows across every audit file, plus the count of unparseable lines."""
    rows, bad = [], 0
    for path in _audit_files(home):
        for text in path.read_text().splitlines():
            try:
                rows.append(json.loads(text))
            except json.JSONDecodeError:
                bad += 1
    return rows, bad


def _access(home: Path, pattern: str = "part-*.csv") -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted((_landing(home) / "access_history").glob(pattern)):
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            assert tuple(reader.fieldnames or ()) == ACCESS_COLUMNS
            rows += list(reader)
    return rows


def _window() -> tuple[dt.datetime, dt.datetime]:
    start, end = gen._window(AS_OF)
    return dt.datetime.fromtimestamp(start, dt.UTC), dt.datetime.fromtimestamp(end, dt.UTC)


def _ts(text: str) -> dt.datetime:
    assert ISO_Z.match(text), text
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _all_bytes(home: Path) -> dict[str, bytes]:
    return {p.relative_to(home).as_posix(): p.read_bytes() for p in home.rglob("*") if p.is_file()}


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", tenants=12, events=3000, seed=11, **OVERRIDES)
    b = generate(tmp_path / "b", tenants=12, events=3000, seed=11, **OVERRIDES)
    c = generate(tmp_path / "c", tenants=12, events=3000, seed=12, **OVERRIDES)
    assert a == b
    assert c.files == a.files
    files_a, files_b = _all_bytes(tmp_path / "a"), _all_bytes(tmp_path / "b")
    assert sorted(files_a) == sorted(a.files)
    assert files_a == files_b
    files_c = _all_bytes(tmp_path / "c")
    assert sorted(files_c) == sorted(files_a)
    for name in files_a:
        assert files_a[name] != files_c[name], name


def test_summary_lists_the_written_files(small: tuple[Path, gen.GenerateSummary]) -> None:
    home, summary = small
    assert summary.files == [
        "landing/tenants/tenants.csv",
        "landing/audit_events/part-0000.jsonl",
        "landing/access_history/part-0000.csv",
        "landing/evidence_events/part-0000.parquet",
        "landing/audit_events/part-planted.jsonl",
        "landing/audit_events/tenants/t2/delivery-0001.jsonl",
        "landing/audit_events/tenants/t3/delivery-0001.jsonl",
        "landing/access_history/part-planted.csv",
        "landing/incidents/part-0000.jsonl",
    ]
    assert summary.tenants == 12
    assert summary.incidents == 6
    assert summary.planted == EXPECTED_PLANTED


def test_tenants_csv(small: tuple[Path, gen.GenerateSummary]) -> None:
    home, _ = small
    header = (_landing(home) / "tenants" / "tenants.csv").read_text().splitlines()[0]
    assert tuple(header.split(",")) == TENANT_COLUMNS
    rows = _tenants(home)
    assert [r["tenant_id"] for r in rows] == [f"t{i}" for i in range(1, 13)]
    assert {r["tenant_class"] for r in rows} == set(CLASSES)
    assert {r["residency_region"] for r in rows} == {"eu", "us"}
    combos = {(r["tenant_class"], r["residency_region"]) for r in rows}
    assert len(combos) == len(CLASSES) * 2
    names = [r["tenant_name"] for r in rows]
    assert len(set(names)) == 12
    assert all(len(n.split()) == 2 for n in names)
    assert not [(a, b) for a in names for b in names if a != b and a in b]
    start, _ = _window()
    for r in rows:
        assert _ts(r["onboarded_at"]) < start
        assert r["offboarded_at"] == ""


@pytest.mark.parametrize("n", [1000, 3000])
def test_tenant_names_stay_unique_and_substring_free(n: int) -> None:
    import numpy as np

    names = gen._tenant_names(np.random.default_rng(1), n)
    assert len(set(names)) == n
    for a in gen._NAME_FIRST:
        assert not [b for b in gen._NAME_FIRST if a != b and b.endswith(a)]
    for a in gen._NAME_SECOND:
        assert not [b for b in gen._NAME_SECOND if a != b and b.startswith(a)]
    if n <= 1000:
        assert not [(a, b) for a in names for b in names if a != b and a in b]
    else:
        sample = names[:50] + names[-50:]
        assert not [(a, b) for a in sample for b in names if a != b and a in b]


def test_classes_alternate_regions_for_even_class_counts(tmp_path: Path) -> None:
    overrides = {**OVERRIDES, "classes": ["standard", "enterprise", "regulated", "sovereign"]}
    generate(tmp_path, tenants=8, events=500, **overrides)
    combos = {(r["tenant_class"], r["residency_region"]) for r in _tenants(tmp_path)}
    assert len(combos) == 8


def test_audit_line_counts_match_summary(small: tuple[Path, gen.GenerateSummary]) -> None:
    home, summary = small
    audit_dir = _landing(home) / "audit_events"
    lines = {
        p.relative_to(audit_dir).as_posix(): len(p.read_text().splitlines())
        for p in _audit_files(home)
    }
    assert sum(lines.values()) == summary.audit_events
    assert lines["part-0000.jsonl"] == 5000
    assert lines["part-planted.jsonl"] == 15
    deliveries = sorted((_landing(home) / "audit_events" / "tenants").glob("*/delivery-0001.jsonl"))
    assert [p.parent.name for p in deliveries] == ["t2", "t3"]
    assert [len(p.read_text().splitlines()) for p in deliveries] == [20, 20]
    assert summary.audit_events == 5000 + 15 + 40
    assert summary.access_history == len(_access(home)) == 1000 + 6


def test_bulk_audit_rows_are_valid_and_attributed(
    small: tuple[Path, gen.GenerateSummary],
) -> None:
    home, _ = small
    tenants = {r["tenant_id"]: r for r in _tenants(home)}
    names = [r["tenant_name"] for r in tenants.values()]
    start, end = _window()
    rows = _bulk_audit(home)
    assert len(rows) == 5000
    assert len({r["event_id"] for r in rows}) == 5000
    global_rows = 0
    for r in rows:
        assert tuple(r) == AUDIT_COLUMNS
        assert start <= _ts(r["occurred_at"]) < end
        assert r["outcome"] in {"success", "failure", "denied"}
        assert isinstance(r["details"], dict) and r["details"]["request_id"].startswith("req-")
        assert r["actor_ip"].startswith(("192.0.2.", "198.51.100.", "203.0.113."))
        if r["tenant_id"] is None:
            global_rows += 1
            assert r["global_scope"] == "platform"
            assert r["scope_justification"]
            assert r["service"] in SERVICES
            assert r["actor_tenant_id"] is None
        else:
            assert r["tenant_id"] in tenants
            assert r["global_scope"] is None and r["scope_justification"] is None
            assert r["actor_tenant_id"] in (None, r["tenant_id"])
            if r["actor_tenant_id"] is not None:
                slug = tenants[r["tenant_id"]]["tenant_name"].lower().replace(" ", "-")
                assert r["actor_email"].endswith(f"@{slug}.example")
        reason = r["reason"] or ""
        assert not TENANT_REF.search(reason), reason
        assert not any(name in reason for name in names), reason
        assert not reason.startswith(FORMULA_START)
    assert global_rows == max(gen.GLOBAL_EVENTS_MIN, len(rows) // gen.GLOBAL_EVENT_EVERY)
    support = sum(r["tenant_id"] is not None and r["actor_tenant_id"] is None for r in rows)
    assert 0.01 < support / len(rows) < 0.06
    months = {r["occurred_at"][:7] for r in rows}
    assert {"2026-09", "2026-10"} <= months


def test_window_always_covers_two_full_months() -> None:
    day = dt.date(2025, 1, 1)
    while day.year == 2025:
        start, end = (dt.datetime.fromtimestamp(x, dt.UTC).date() for x in gen._window(day))
        assert (end - start).days >= 90
        full = 0
        month = dt.date(start.year, start.month, 1)
        while month < end:
            nxt = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
            full += month >= start and nxt <= end
            month = nxt
        assert full >= 2, day
        day += dt.timedelta(days=1)


def test_planted_audit_problems_are_in_the_files(
    small: tuple[Path, gen.GenerateSummary],
) -> None:
    home, summary = small
    rows, malformed = _parsed_audit(home)
    names = {r["tenant_name"]: r["tenant_id"] for r in _tenants(home)}
    assert malformed == summary.planted["malformed_line"] == 2
    no_context = [r for r in rows if r["tenant_id"] is None and r["global_scope"] is None]
    assert len(no_context) == summary.planted["no_tenant_context"]
    unjustified = [r for r in rows if r["global_scope"] and not r["scope_justification"]]
    assert len(unjustified) == summary.planted["global_without_justification"]
    assert len([r for r in rows if r["tenant_id"] == "t9999"]) == summary.planted["unknown_tenant"]
    bad_ts = [r for r in rows if r["occurred_at"] == "not-a-timestamp"]
    assert len(bad_ts) == summary.planted["type_error"]
    assert all(ISO_Z.match(r["occurred_at"]) for r in rows if r not in bad_ts)

    def foreign(r: dict[str, Any]) -> bool:
        reason = r["reason"] or ""
        ids = set(TENANT_REF.findall(reason)) | {t for n, t in names.items() if n in reason}
        return bool(ids - {r["tenant_id"]})

    foreign_rows = [r for r in rows if foreign(r)]
    assert len(foreign_rows) == summary.planted["foreign_tenant_in_text"]
    assert {r["tenant_id"] for r in foreign_rows} == {"t1"}
    assert any("t10" in r["reason"] for r in foreign_rows)
    assert any(n in r["reason"] for r in foreign_rows for n in names)

    audit_formula = [r for r in rows if (r["reason"] or "").startswith(FORMULA_START)]
    access_formula = [r for r in _access(home) if r["reason"].startswith(FORMULA_START)]
    assert len(audit_formula) + len(access_formula) == summary.planted["csv_formula_payload"]
    assert {r["reason"] for r in audit_formula + access_formula} == set(gen.FORMULA_PAYLOADS)


def test_planted_rows_are_otherwise_realistic(small: tuple[Path, gen.GenerateSummary]) -> None:
    home, _ = small
    lines = (_landing(home) / "audit_events" / "part-planted.jsonl").read_text().splitlines()
    for text in lines:
        assert text.startswith('{"event_id":"ae-p')
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            continue
        assert tuple(row) == AUDIT_COLUMNS
        assert row["actor_id"] and row["actor_email"] and row["service"] and row["action"]


def test_cross_tenant_write_in_delivery_file(small: tuple[Path, gen.GenerateSummary]) -> None:
    home, summary = small
    crossing = []
    for path in (_landing(home) / "audit_events" / "tenants").glob("*/delivery-0001.jsonl"):
        rows = [json.loads(x) for x in path.read_text().splitlines()]
        assert all(tuple(r) == AUDIT_COLUMNS for r in rows)
        assert all(r["actor_tenant_id"] == path.parent.name for r in rows)
        crossing += [r for r in rows if r["tenant_id"] != path.parent.name]
    assert len(crossing) == summary.planted["cross_tenant_write"] == 1
    bulk_ids = {r["event_id"] for r in _bulk_audit(home)}
    rows, _ = _parsed_audit(home)
    assert len({r["event_id"] for r in rows}) == len(rows)
    assert not bulk_ids & {r["event_id"] for r in crossing}


def test_access_history(small: tuple[Path, gen.GenerateSummary]) -> None:
    home, summary = small
    tenants = {r["tenant_id"] for r in _tenants(home)}
    bulk = _access(home, "part-[0-9]*.csv")
    assert len(bulk) == 1000
    assert len({r["access_id"] for r in bulk}) == 1000
    start, end = _window()
    impersonated_tenants = set()
    for r in bulk:
        assert start <= _ts(r["accessed_at"]) < end
        assert r["tenant_id"] in tenants
        assert r["access_type"] in {"read", "write", "export", "admin", "impersonation"}
        if r["access_type"] in {"admin", "impersonation"}:
            assert r["reason"]
        if r["actor_tenant_id"] == "":
            assert r["global_role"] == "platform_support"
        else:
            assert r["actor_tenant_id"] == r["tenant_id"] and r["global_role"] == ""
        if r["access_type"] == "impersonation":
            assert r["impersonated_user"].endswith(".example")
            assert r["impersonated_user"] != r["actor_email"]
            impersonated_tenants.add(r["tenant_id"])
        else:
            assert r["impersonated_user"] == ""
        assert not r["reason"].startswith(FORMULA_START)
    assert impersonated_tenants == tenants

    every = _access(home)
    admin_no_reason = [r for r in every if r["access_type"] == "admin" and not r["reason"]]
    assert len(admin_no_reason) == summary.planted["admin_without_reason"]
    assert len([r for r in every if not r["tenant_id"]]) == summary.planted["access_no_tenant"]


def test_evidence_parquet(small: tuple[Path, gen.GenerateSummary]) -> None:
    home, summary = small
    path = _landing(home) / "evidence_events" / "part-0000.parquet"
    table = pq.read_table(path)
    assert table.schema.field("observed_at").type == pa.timestamp("us", tz="UTC")
    assert table.column_names == [
        "evidence_id",
        "control_id",
        "tenant_id",
        "global_scope",
        "scope_justification",
        "service_id",
        "observed_at",
        "status",
        "source",
        "artefact_uri",
    ]
    assert table.num_rows == summary.evidence_events
    rel = f"read_parquet('{path.as_posix()}')"
    pairs = duckdb.sql(
        "SELECT tenant_id, control_id, max(observed_at) AS newest, count(*) AS n "
        f"FROM {rel} "
        "WHERE tenant_id IS NOT NULL GROUP BY ALL"
    ).fetchall()
    assert len(pairs) == 12 * len(CONTROLS)
    as_of = dt.datetime.combine(AS_OF, dt.time(), dt.UTC)
    stale = [p for p in pairs if p[2] < as_of - dt.timedelta(days=200)]
    assert len(stale) == summary.planted["stale_control"] == 1
    assert all(as_of - dt.timedelta(days=3) <= p[2] < as_of for p in pairs if p not in stale)
    bad = duckdb.sql(
        f"SELECT count(*) FROM {rel} WHERE (tenant_id IS NULL) != (global_scope = 'platform') "
        "OR (tenant_id IS NULL) != (service_id IS NOT NULL) "
        "OR (tenant_id IS NULL AND scope_justification IS DISTINCT FROM "
        "'shared service control evidence') "
        "OR (tenant_id IS NOT NULL AND artefact_uri != "
        "'s3://evidence/' || tenant_id || '/' || control_id || '/' || evidence_id || '.json') "
        "OR status NOT IN ('pass', 'fail') OR source NOT IN ('scanner', 'ci', 'manual')"
    ).fetchall()[0]
    assert bad == (0,)
    services = duckdb.sql(f"SELECT DISTINCT service_id FROM {rel} WHERE service_id IS NOT NULL")
    assert sorted(r[0] for r in services.fetchall()) == sorted(SERVICES)
    ids = duckdb.sql(f"SELECT count(DISTINCT evidence_id), count(*) FROM {rel}").fetchall()[0]
    assert ids[0] == ids[1]


def test_seed_files_drive_classes_controls_and_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "tenant_class_policies.csv").write_text(
        "tenant_class,retention_days\nstandard,365\nenterprise,730\nregulated,2555\nsovereign,3650\n"
    )
    (seeds / "controls.csv").write_text(
        "control_id,family,title,applies_to_classes,freshness_days\n"
        "AC-1,access,Access policy,standard|enterprise|regulated|sovereign,30\n"
        "SOV-1,sovereignty,Residency attestation,sovereign,30\n"
    )
    (seeds / "shared_services.csv").write_text(
        "service_id,capability,owner\nsvc-auth,identity,platform\nsvc-kms,keys,security\n"
    )
    monkeypatch.setattr(gen, "SEEDS_DIR", seeds)
    home = tmp_path / "home"
    generate(home, tenants=8, events=800, as_of=AS_OF)
    classes = {r["tenant_id"]: r["tenant_class"] for r in _tenants(home)}
    assert set(classes.values()) == {"standard", "enterprise", "regulated", "sovereign"}
    table = pq.read_table(_landing(home) / "evidence_events").to_pylist()
    sov = {r["tenant_id"] for r in table if r["control_id"] == "SOV-1" and r["tenant_id"]}
    assert sov == {t for t, c in classes.items() if c == "sovereign"}
    assert {r["service_id"] for r in table if r["service_id"]} == {"svc-auth", "svc-kms"}
    services = {r["service"] for r in _bulk_audit(home) if r["tenant_id"] is None}
    assert services <= {"svc-auth", "svc-kms"}


def test_large_run_splits_files_and_clears_old_parts(tmp_path: Path) -> None:
    summary = generate(tmp_path, tenants=50, events=200_000, max_lines_per_file=30_000, **OVERRIDES)
    audit_parts = sorted((_landing(tmp_path) / "audit_events").glob("part-[0-9]*.jsonl"))
    assert [p.name for p in audit_parts] == [f"part-{i:04d}.jsonl" for i in range(7)]
    counts = [len(p.read_bytes().splitlines()) for p in audit_parts]
    assert counts == [30_000] * 6 + [20_000]
    access_parts = sorted((_landing(tmp_path) / "access_history").glob("part-[0-9]*.csv"))
    assert [len(p.read_bytes().splitlines()) - 1 for p in access_parts] == [30_000, 10_000]
    assert summary.audit_events == 200_000 + 15 + 40
    assert summary.access_history == 40_000 + 6
    ids = duckdb.sql(
        "SELECT count(DISTINCT event_id), count(*), min(event_id), max(event_id) FROM "
        f"read_json('{_landing(tmp_path).as_posix()}/audit_events/part-0*.jsonl')"
    ).fetchall()[0]
    assert ids == (200_000, 200_000, "ae-000000001", "ae-000200000")

    smaller = generate(tmp_path, tenants=12, events=1000, **OVERRIDES)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(smaller.files)


def test_rejects_too_few_tenants(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, tenants=1, **OVERRIDES)


def test_incidents_cover_every_notification_outcome(
    small: tuple[Path, gen.GenerateSummary],
) -> None:
    home, _ = small
    rows = [
        json.loads(x)
        for x in (_landing(home) / "incidents" / "part-0000.jsonl").read_text().splitlines()
    ]
    assert [tuple(r) for r in rows] == [gen.INCIDENT_COLUMNS] * 6
    assert len({r["incident_id"] for r in rows}) == 6
    tenants = {r["tenant_id"] for r in _tenants(home)}
    _, end = _window()
    delays = []
    for r in rows:
        detected = _ts(r["detected_at"])
        assert detected < end
        if r["tenant_id"] is None:
            assert r["global_scope"] == "platform" and r["scope_justification"]
            assert r["service_id"] in SERVICES
        else:
            assert r["tenant_id"] in tenants
            assert r["global_scope"] is None and r["service_id"] is None
        notified = r["notified_at"] and _ts(r["notified_at"])
        delays.append(None if not notified else (notified - detected).total_seconds() / 3600)
    assert sum(d is None for d in delays) == 2, "one never notified, one recent and still due"
    assert any(d is not None and d > 72 for d in delays), "one notified after every class SLA"
    assert any(d is not None and d < 24 for d in delays), "one notified on time"
