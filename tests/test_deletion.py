"""Provable tenant deletion and retention purge records (spec §5.5).

Each test works on a copy of the session's built home. The checks that look for the tenant
(`remnants`, `landing_remnants`) are written here independently of the deletion code, and each
is first shown finding the tenant before it is deleted."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tenantproof.erasure.deletion as deletion
from exports import contract, verify
from orchestration import runner
from orchestration.definitions import defs
from tenantproof.analytics.reconcile import reconcile
from tenantproof.cli.main import main as cli_main
from tenantproof.core.home import Home
from tenantproof.core.policy import load_policy
from tenantproof.core.sources import AUDIT_EVENTS, TENANTS
from tenantproof.core.warehouse import connect
from tenantproof.erasure import redaction, rewrite
from tenantproof.erasure.certificates import Check, write_certificate, write_purge_record
from tenantproof.erasure.deletion import Identifiers, UnknownTenant, delete_tenant
from tenantproof.ingest.load import ingest_source
from tests.bundles import read_table, read_text
from tests.conftest import bundle_dirs, settings_for

# t3 has its own delivery folder, a row inside t2's delivery (a refused cross-tenant write) and
# its name in another tenant's event; t10 is named by id in t1's events.
DELETED = "t3"


def public_key(home: Home) -> bytes:
    return (home.exports / contract.PUBLIC_KEY).read_bytes()


def word_pattern(tenant: str, name: str) -> re.Pattern[str]:
    return re.compile(rf"\b({re.escape(tenant)}|{re.escape(name)})\b", re.I)


def remnants(home: Home, tenant: str, name: str) -> dict[str, int]:
    """Rows per warehouse table that are the tenant's or name it anywhere (tombstones aside)."""
    con = connect(home.warehouse, read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_schema not in ('policy')"
        ).fetchall()
        out = {}
        for schema, table in tables:
            if (schema, table) == ("raw", "tenant_tombstones"):
                continue
            cols = {c: t for c, t, *_ in con.execute(f"describe {schema}.{table}").fetchall()}
            conds, params = [], []
            for c in ("tenant_id", "tenant_hint"):
                if c in cols:
                    conds.append(f'"{c}" = ?')
                    params.append(tenant)
            for c, t in cols.items():
                if t == "VARCHAR":
                    conds.append(f'regexp_matches("{c}", ?)')
                    params.append("(?i)" + word_pattern(tenant, name).pattern)
            if conds:
                n = con.execute(
                    f"select count(*) from {schema}.{table} where {' or '.join(conds)}", params
                ).fetchone()[0]
                if n:
                    out[f"{schema}.{table}"] = n
        return out
    finally:
        con.close()


def landing_remnants(home: Home, tenant: str, name: str) -> list[str]:
    """Landing files holding a record of the tenant or naming it."""
    pattern = word_pattern(tenant, name)
    found = []
    for path in sorted(p for p in home.landing.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            rows = pq.read_table(path).to_pylist()
            hit = any(
                r.get("tenant_id") == tenant
                or any(isinstance(v, str) and pattern.search(v) for v in r.values())
                for r in rows
            )
        else:
            hit = bool(pattern.search(path.read_text(encoding="utf-8", errors="replace")))
        if hit:
            found.append(str(path.relative_to(home.landing)))
    return found


def home_remnants(home: Home, tenant: str, name: str) -> list[str]:
    """Files anywhere in the home holding or naming the tenant, except the warehouse (queried
    by `remnants`), the Dagster instance and the deletion records themselves."""
    pattern = word_pattern(tenant, name)
    found = []
    for path in sorted(p for p in home.root.rglob("*") if p.is_file()):
        rel = path.relative_to(home.root)
        if rel.parts[0] in ("warehouse", "dagster", "deletions"):
            continue
        if path.suffix == ".sig":  # 64 signature bytes: "t3" can occur by chance, no text
            continue
        if f"tenant_id={tenant}" in rel.parts or tenant in rel.parts:
            found.append(str(rel))
        elif path.suffix == ".parquet":
            rows = read_table(path, home.root).to_pylist()  # encrypted ones decrypted
            if any(
                r.get("tenant_id") == tenant
                or any(isinstance(v, str) and pattern.search(v) for v in r.values())
                for r in rows
            ):
                found.append(str(rel))
        elif pattern.search(read_text(path, home.root)):
            found.append(str(rel))
    return found


def snapshot(root: Path, skip: str | None = None) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not (skip and skip in p.relative_to(root).parts)
    }


def fetch(home: Home, sql: str, params: list | None = None) -> tuple:
    con = connect(home.warehouse, read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()
    finally:
        con.close()


def count(home: Home, sql: str, params: list | None = None) -> int:
    return fetch(home, sql, params)[0]


def test_deleting_a_tenant_removes_it_everywhere_and_proves_it(home, built):
    name = built.identifiers[DELETED]
    key = public_key(home)
    before = remnants(home, DELETED, name)
    # (raw.tenant_hash_keys is a view over keys/tenant_hash_keys.json: no key in the warehouse)
    for table in ("raw.audit_events", "raw.tenants", "raw.quarantine"):
        assert before.get(table), f"{table} holds {DELETED} before the deletion"
    assert before.get("marts.fct_audit_events") and before.get("raw.file_ledger")
    own_rows = count(home, "select count(*) from raw.audit_events where tenant_id = ?", [DELETED])
    assert {"tenants/tenants.csv", "audit_events/tenants/t2/delivery-0001.jsonl"} <= set(
        landing_remnants(home, DELETED, name)
    )
    runner.export(
        settings_for(home), built.periods[-1:], [DELETED]
    )  # a bundle run of this tenant alone
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        alone = [
            r.run_id
            for r in instance.get_runs(dg.RunsFilter(job_name="tenant_audit_bundles_job"))
            if r.tags.get("dagster/asset_partition_range_start", "").endswith(f"|{DELETED}")
            and r.tags.get("dagster/asset_partition_range_end", "").endswith(f"|{DELETED}")
        ]
    assert alone
    region_folder = next(home.exports.glob(f"*/{DELETED}"))
    bundles = {
        str(f.relative_to(home.exports)): contract.sha256_file(f / contract.MANIFEST)
        for f in bundle_dirs(home)
        if f.parent == region_folder
    }
    assert len(bundles) == len(built.periods)
    others = snapshot(home.exports, skip=DELETED)
    # a derived copy outside the warehouse, flat and hive-partitioned by tenant
    derived = home.root / "reports"
    (derived / f"tenant_id={DELETED}").mkdir(parents=True)
    rows = [{"tenant_id": DELETED, "note": "x"}, {"tenant_id": "t2", "note": f"about {name}"}]
    pq.write_table(pa.Table.from_pylist(rows), derived / "by_tenant.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:1]), derived / f"tenant_id={DELETED}" / "p.parquet")
    # bundles of a run still in staging (a run killed before publishing)
    staged = home.staging / "run-x" / region_folder.parent.name
    (staged / DELETED / "2026-10").mkdir(parents=True)
    (staged / DELETED / "2026-10" / "audit_events.parquet").write_bytes(b"staged rows")
    (staged / "t2" / "2026-10").mkdir(parents=True)
    (home.staging / "run-x" / "_parts" / "evidence" / f"tenant_id={DELETED}").mkdir(parents=True)
    # a counts-only report of an export that withheld bundles of the tenant and of another
    withheld = {"withheld": [{"tenant_id": DELETED, "period": "2026-10"}, {"tenant_id": "t2"}]}
    withheld["failed"] = [{"bundles": [f"{DELETED}|2026-10", "t2|2026-10"]}]
    (home.staging / "run-y.failed.json").write_text(json.dumps(withheld))
    found = home_remnants(home, DELETED, name)
    for expected in ("landing", "exports", "keys", "registry", "reports"):
        assert any(f.startswith(expected) for f in found), expected

    certificate = runner.delete_tenant(
        settings_for(home), DELETED, "contract ended", "dpo@platform.example"
    )

    assert remnants(home, DELETED, name) == {}
    assert landing_remnants(home, DELETED, name) == []
    assert home_remnants(home, DELETED, name) == []
    assert pq.read_table(derived / "by_tenant.parquet").to_pylist() == [
        {"tenant_id": "t2", "note": "about [deleted tenant]"}
    ]
    assert not region_folder.exists()
    assert not list(home.landing.glob(f"*/tenants/{DELETED}"))
    hash_keys = json.loads((home.keys / "tenant_hash_keys.json").read_text())
    assert DELETED not in hash_keys and len(hash_keys) == len(built.identifiers) - 1
    assert DELETED not in pq.read_table(home.registry).column("tenant_id").to_pylist()
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        assert DELETED not in instance.get_dynamic_partitions("tenants")
        assert "t2" in instance.get_dynamic_partitions("tenants")
    assert count(home, "select count(*) from raw.tenant_tombstones where tenant_id = ?", [DELETED])

    report = verify.verify_certificate(certificate, key)
    assert report.ok, report.problems
    doc = json.loads(certificate.read_text())
    assert (doc["kind"], doc["tenant_id"], doc["reason"], doc["requested_by"]) == (
        "tenant_deletion",
        DELETED,
        "contract ended",
        "dpo@platform.example",
    )
    tables = {t["table"]: t for t in doc["tables"]}
    assert tables["raw.audit_events"]["rows_before"] == own_rows
    assert all(t["rows_after"] == 0 and t["mentions_after"] == 0 for t in doc["tables"])
    assert tables["raw.audit_events"]["mentions_before"] >= 1  # another tenant's event named it
    assert {b["bundle"]: b["manifest_sha256"] for b in doc["bundles_removed"]} == bundles
    # t3 is regulated: its bundle encryption key is shredded with its hashing key
    assert [k["store"] for k in doc["keys_removed"]] == [
        "keys/tenant_encryption_keys.json",
        "keys/tenant_hash_keys.json",
    ]
    assert doc["dagster_partitions"]["removed"] is True
    assert doc["dagster_partitions"]["runs_deleted"] == len(alone)
    # the build's export of every tenant in one run includes it: kept, and counted
    assert doc["dagster_partitions"]["runs_kept_including_tenant"] >= 1
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        assert all(instance.get_run_by_id(r) is None for r in alone)
        assert instance.get_runs(dg.RunsFilter(job_name="tenant_audit_bundles_job"))
    assert (
        doc["landing"]["files_removed"][0]["path"]
        == f"audit_events/tenants/{DELETED}/delivery-0001.jsonl"
    )
    rewritten = {f["path"]: f for f in doc["landing"]["files_rewritten"]}
    assert rewritten["audit_events/tenants/t2/delivery-0001.jsonl"]["records_removed"] == 1
    assert all(c["passed"] and c["result"] == c["expected"] for c in doc["verification"])
    staged_content = {c["path"]: c for c in doc["staged_content_removed"]}
    bundle_dir = staged_content[f"staging/run-x/{region_folder.parent.name}/{DELETED}"]
    assert (bundle_dir["files"], bundle_dir["bytes"]) == (1, len(b"staged rows"))
    assert len(bundle_dir["content_sha256"]) == 64
    assert sorted(doc["staged_removed"]) == [
        f"staging/run-x/_parts/evidence/tenant_id={DELETED}",
        f"staging/run-x/{region_folder.parent.name}/{DELETED}",
    ]
    assert not (staged / DELETED).exists()
    assert json.loads((home.staging / "run-y.failed.json").read_text()) == {
        "withheld": [{"tenant_id": "t2"}],
        "failed": [{"bundles": ["[deleted tenant]|2026-10", "t2|2026-10"]}],
    }
    # then the rest of the dead run's staging is swept as a leftover (exports.leftovers)
    assert not (home.staging / "run-x").exists()
    # dbt's run artefacts and logs (compiled SQL names every tenant) go whole
    assert doc["derived_files"]["partition_folders_removed"] == [
        "dbt",
        f"reports/tenant_id={DELETED}",
    ]
    assert "reports/by_tenant.parquet" in {
        f["path"] for f in doc["derived_files"]["files_rewritten"]
    }
    assert "Clearpeak" not in certificate.read_text() and name not in certificate.read_text()

    # every other tenant's bundles: byte-identical and verifiable under the platform key
    assert snapshot(home.exports, skip=DELETED) == others
    assert all(verify.verify_bundle(f, key).ok for f in bundle_dirs(home))


def test_after_deletion_a_rebuild_loads_nothing_again_and_later_rows_are_quarantined(home):
    delete_tenant(home, DELETED, "contract ended", requested_by="test")
    ledger_before = fetch(home, "select count(*), sum(rows_read) from raw.file_ledger")
    late = {"event_id": "late-1", "occurred_at": "2026-11-02T00:00:00Z", "action": "x"}
    (home.landing / "audit_events" / "late.jsonl").write_text(
        json.dumps({**late, "tenant_id": DELETED}) + "\n"
    )
    header = (home.landing / "tenants" / "tenants.csv").read_text().splitlines()[0]
    (home.landing / "tenants" / "re-registration.csv").write_text(
        f"{header}\n{DELETED},Clearpeak Outfitters,regulated,eu,2024-01-01T00:00:00Z,\n"
    )
    runner.build(settings_for(home))
    # the rewritten landing files do not load again: only the two new files are read
    files, rows = fetch(home, "select count(*), sum(rows_read) from raw.file_ledger")
    assert (files, rows) == (ledger_before[0] + 2, ledger_before[1] + 2)
    quarantined = count(
        home,
        "select count(*) from raw.quarantine where reason_code = 'tenant_deleted' "
        "and tenant_hint = ?",
        [DELETED],
    )
    assert quarantined == 2  # the late event and the re-registration
    for table in ("raw.tenants", "raw.audit_events", "marts.fct_audit_events"):
        sql = f"select count(*) from {table} where tenant_id = ?"
        assert count(home, sql, [DELETED]) == 0, table
    con = connect(home.warehouse, read_only=True)
    assert all(r.balanced for r in reconcile(con))
    con.close()


def test_deleting_an_unknown_tenant_is_an_error_that_changes_nothing(home):
    before = snapshot(home.root)
    with pytest.raises(SystemExit, match="tenant t999 is not in the tenant registry"):
        cli_main(["delete-tenant", "t999", "--reason", "typo"])
    with pytest.raises(UnknownTenant):
        delete_tenant(home, "t999", "typo", requested_by="test")
    assert snapshot(home.root) == before
    assert not home.deletions.exists()


@pytest.mark.parametrize(
    ("step", "function", "dies_on_call"),
    [
        ("warehouse", "redact_table", 2),  # inside the transaction: it rolls back
        ("landing", "rewrite_landing_file", 2),  # one landing file already rewritten
        ("bundles", "_remove_tree", 1),
    ],
)
def test_a_deletion_killed_midway_completes_on_a_rerun(
    home, built, monkeypatch, step, function, dies_on_call
):
    tenant, name = "t10", built.identifiers["t10"]
    rows = count(home, "select count(*) from raw.audit_events where tenant_id = ?", [tenant])
    assert rows > 0 and remnants(home, tenant, name)
    manifests = sorted(
        contract.sha256_file(f / contract.MANIFEST)
        for f in bundle_dirs(home)
        if f.parent.name == tenant
    )
    real = getattr(deletion, function)
    calls = []

    def dies(*args, **kwargs):
        calls.append(1)
        if len(calls) == dies_on_call:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(deletion, function, dies)
    with pytest.raises(RuntimeError, match="killed"):
        delete_tenant(home, tenant, "contract ended", requested_by="first")
    area = home.deletions / tenant
    progress = json.loads((area / "progress.json").read_text())
    assert "plan" in progress["steps"] and step not in progress["steps"]
    assert not (area / "certificate.json").exists()
    if step == "warehouse":
        assert (
            count(home, "select count(*) from raw.audit_events where tenant_id = ?", [tenant])
            == rows
        )

    monkeypatch.setattr(deletion, function, real)
    result = delete_tenant(home, tenant, "a later reason is ignored", requested_by="second")
    doc = result.document
    assert verify.verify_certificate(result.certificate, public_key(home)).ok
    assert doc["reason"] == "contract ended"
    assert [a["requested_by"] for a in doc["attempts"]] == ["first", "second"]
    tables = {t["table"]: t for t in doc["tables"]}
    assert tables["raw.audit_events"]["rows_before"] == rows  # captured by the first attempt
    assert sorted(b["manifest_sha256"] for b in doc["bundles_removed"]) == manifests
    assert remnants(home, tenant, name) == {}
    assert landing_remnants(home, tenant, name) == []
    # "t1" is named next to t10 in the same events: untouched
    assert count(home, "select count(*) from raw.audit_events where tenant_id = 't1'") > 0

    again = delete_tenant(home, tenant, "again", requested_by="third")
    assert (
        again.already_deleted and again.certificate.read_bytes() == result.certificate.read_bytes()
    )


def test_the_deletion_job_is_defined_with_typed_config():
    job = defs.resolve_job_def("delete_tenant_job")
    assert [n.name for n in job.graph.node_defs] == ["delete_tenant"]
    fields = job.graph.node_defs[0].config_schema.as_field().config_type.fields
    assert set(fields) == {"tenant", "reason", "requested_by"}


# -- pure pieces --


def test_redaction_replaces_only_the_deleted_tenants_whole_identifiers():
    ids = Identifiers("t1", "Acme", others=("t10", "t1.eu", "Acme Labs", "Globex"))
    text = "t1 asked T1, t10 and t1.eu; ACME, Acme Labs and Globex"
    expected = (
        "[deleted tenant] asked [deleted tenant], t10 and t1.eu; [deleted tenant], Acme Labs "
        "and Globex"
    )
    assert ids.redact(text) == expected
    con = duckdb.connect()
    sql = f"select {redaction.redacted_sql('x')} from (select $text as x)"
    params = {**redaction.sql_params(ids, sql), "text": text}
    assert con.execute(sql, params).fetchone()[0] == expected


def test_a_landing_csv_loses_the_tenants_records_and_keeps_the_rest_byte_for_byte():
    ids = Identifiers("t1", "Acme", others=("t2",))
    kept = 'a2,t2,"line one\nline two",note\r\n'
    data = (
        "access_id,tenant_id,reason,note\r\n"
        "a1,t1,x,y\r\n"
        + kept
        + "a3,t2,asked by Acme,z\r\n"
        + "a4,t1,too,many,fields\r\n"  # malformed, yet the tenant's
    ).encode()
    new, removed, redacted = rewrite.rewrite_csv(data, ids)
    assert (removed, redacted) == (2, 1)
    assert new.decode() == (
        "access_id,tenant_id,reason,note\r\n" + kept + "a3,t2,asked by [deleted tenant],z\r\n"
    )
    rows = list(csv.reader(new.decode().splitlines(keepends=True)))
    assert [r[0] for r in rows] == ["access_id", "a2", "a3"]


def test_tombstoned_tenants_rows_and_re_registration_are_quarantined(tmp_path):
    landing = tmp_path / "landing"
    (landing / "tenants").mkdir(parents=True)
    (landing / "audit_events").mkdir()
    header = "tenant_id,tenant_name,tenant_class,residency_region,onboarded_at,offboarded_at\n"
    (landing / "tenants" / "a.csv").write_text(header + "t1,Acme,standard,eu,,\n")
    event = {"event_id": "e1", "occurred_at": "2026-10-03T12:00:00Z", "action": "x"}
    (landing / "audit_events" / "a.jsonl").write_text(json.dumps({**event, "tenant_id": "t1"}))
    con = connect(tmp_path / "w.duckdb")
    policy = load_policy()
    ingest_source(con, landing, TENANTS, policy)
    assert ingest_source(con, landing, AUDIT_EVENTS, policy).loaded == 1  # not tombstoned yet

    con.execute("insert into raw.tenant_tombstones values ('t1', now()::timestamp, 'test')")
    (landing / "tenants" / "b.csv").write_text(header + "t1,Acme Again,standard,eu,,\n")
    (landing / "audit_events" / "b.jsonl").write_text(
        json.dumps({**event, "event_id": "e2", "tenant_id": "t1"})
    )
    assert ingest_source(con, landing, TENANTS, policy).quarantined == 1
    assert ingest_source(con, landing, AUDIT_EVENTS, policy).loaded == 0
    rows = con.execute(
        "select source, field, reason_code, tenant_hint from raw.quarantine order by source"
    ).fetchall()
    assert rows == [
        ("audit_events", "tenant_id", "tenant_deleted", "t1"),
        ("tenants", "tenant_id", "tenant_deleted", "t1"),
    ]
    con.close()


def test_a_retention_purge_record_is_signed_and_verified(tmp_path):
    home = Home(tmp_path / "home")
    check = Check(
        "raw.audit_events: rows older than the cutoff",
        "select count(*) from raw.audit_events where tenant_id = $t and occurred_at < $cutoff",
        0,
    )
    path = write_purge_record(
        home,
        "t1",
        {"raw.audit_events": (120, 20), "marts.fct_audit_events": (118, 20)},
        policy={"tenant_class": "standard", "retention_days": 365},
        cutoff=date(2025, 11, 1),
        checks=[check],
    )
    assert path.parent == home.deletions / "t1" / "retention"
    key = path.with_name(contract.PUBLIC_KEY).read_bytes()
    report = verify.verify_certificate(path, key)
    assert report.ok and report.kind == "retention_purge", report.problems
    doc = json.loads(path.read_text())
    assert [t["rows_purged"] for t in doc["tables"]] == [98, 100]
    assert verify.verify_path(home.deletions, key)[0].ok

    doc["tables"][0]["rows_after"] = 0
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    assert (
        verify.verify_certificate(path, key)
        .problems[0]
        .startswith(f"{path.stem}.sig: the signature does not match {path.name}")
    )

    failed = write_purge_record(
        home,
        "t1",
        {"raw.audit_events": (5, 1)},
        policy={},
        cutoff="2025-11-01",
        checks=[Check("rows older than the cutoff", "select ...", 1)],
    )
    assert verify.verify_certificate(failed, key).problems == [
        "verification: rows older than the cutoff: result 1, expected 0"
    ]
    with pytest.raises(ValueError, match="rows after the purge of t1"):
        write_purge_record(home, "t1", {"raw.audit_events": (1, 2)}, policy={}, cutoff="2025-11-01")


def test_a_deletion_certificate_that_claims_a_remaining_row_fails(tmp_path):
    home = Home(tmp_path / "home")
    base = {
        "kind": "tenant_deletion",
        "tenant_id": "t1",
        "reason": "contract ended",
        "requested_by": "ops",
        "requested_at": "2026-11-01T00:00:00+00:00",
        "completed_at": "2026-11-01T00:01:00+00:00",
        "bundles_removed": [],
        "tables": [{"table": "raw.audit_events", "rows_before": 3, "rows_after": 0}],
        "verification": [Check("rows of the tenant", "select ...", 0).as_dict()],
        "verified": True,
    }
    good = write_certificate(home.deletions / "t1" / "certificate.json", base, None, home)
    key = good.with_name(contract.PUBLIC_KEY).read_bytes()
    assert verify.verify_certificate(good, key).ok
    bad_tables = [{"table": "raw.audit_events", "rows_before": 3, "rows_after": 1}]
    bad = write_certificate(tmp_path / "bad.json", {**base, "tables": bad_tables}, None, home)
    assert verify.verify_certificate(bad, key).problems == [
        "tables: raw.audit_events: 1 row(s) of the tenant remain"
    ]
    good.with_suffix(".sig").unlink()
    assert verify.verify_certificate(good, key).problems == [
        "certificate.sig is missing: certificate.json is not signed"
    ]


def test_a_rerun_also_removes_rows_a_build_quarantined_after_the_first_attempt(
    home, built, monkeypatch
):
    tenant = "t10"
    real = deletion._remove_tree

    def dies(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(deletion, "_remove_tree", dies)  # after warehouse and landing
    with pytest.raises(RuntimeError, match="killed"):
        delete_tenant(home, tenant, "contract ended", requested_by="first")
    monkeypatch.setattr(deletion, "_remove_tree", real)
    # a delivery for the tenant lands meanwhile; the tombstone quarantines it at ingest
    late = home.landing / "audit_events" / "late.jsonl"
    late.write_text(
        json.dumps(
            {"event_id": "late-1", "occurred_at": "2026-11-20T10:00:00Z", "tenant_id": tenant}
        )
        + "\n"
    )
    con = connect(home.warehouse)
    try:
        assert ingest_source(con, home.landing, AUDIT_EVENTS, load_policy()).quarantined == 1
    finally:
        con.close()
    query = "select count(*) from raw.quarantine where tenant_hint = ?"
    assert count(home, query, [tenant]) == 1
    result = delete_tenant(home, tenant, "contract ended", requested_by="second")
    assert verify.verify_certificate(result.certificate, public_key(home)).ok
    assert count(home, query, [tenant]) == 0
    assert not late.exists() or tenant not in late.read_text()
    con = connect(home.warehouse, read_only=True)
    try:
        assert all(r.balanced for r in reconcile(con))
    finally:
        con.close()
