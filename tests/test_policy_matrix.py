"""The tenant policy matrix enforced: bad policy files are refused at load; retention,
residency, access (delivery), cadence schedules and the release gate each follow the seeds, with
no per-class code. Tests that change a home work on a copy of the session's built home; each
shows first that its check can fail."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from cryptography.exceptions import InvalidTag

from exports import contract, verify
from exports.delivery import DeliveryRefused, deliver_bundles, registry_classes
from orchestration.cadences import cadence_run_requests, tenant_classes
from orchestration.definitions import defs
from tenantproof.analytics.reconcile import reconcile
from tenantproof.compliance import artefacts, release_gate
from tenantproof.core.home import Home
from tenantproof.core.policy import PolicyError, load_policy
from tenantproof.core.residency import ResidencyViolation, check_residency, region_roots
from tenantproof.core.settings import HOME_ENV
from tenantproof.core.sources import ACCESS_HISTORY
from tenantproof.core.warehouse import connect
from tenantproof.erasure.retention import purge_expired, retention_violations
from tenantproof.ingest.load import ingest_source
from tests.bundles import read_table
from tests.conftest import (
    FAMILIES,
    BuiltHome,
    edit_csv,
    gate,
    platform_key,
    seeds_copy,
    settings_for,
)

# -- bad input: refused at load, naming the file, the class and the field --

CLASSES = "tenant_class_policies.csv"


@pytest.mark.parametrize(
    ("file", "match", "changes", "names"),
    [
        (CLASSES, {"tenant_class": "enterprise"}, {"retention_days": "-30"}, "retention_days"),
        (CLASSES, {"tenant_class": "regulated"}, {"allowed_regions": "eu|mars"}, "allowed_regions"),
        (CLASSES, {"tenant_class": "standard"}, {"export_cadence": "hourly"}, "export_cadence"),
        (CLASSES, {"tenant_class": "standard"}, {"notification_sla_hours": ""}, "notification"),
        (CLASSES, {"tenant_class": "enterprise"}, {"csv_encryption": "none"}, "csv_encryption"),
        ("controls.csv", {"control_id": "AC-1"}, {"applies_to_classes": "standard|gold"}, "gold"),
        (
            "freshness_by_family.csv",
            {"tenant_class": "regulated", "family": "encryption"},
            {"tenant_class": "platinum"},
            "platinum",
        ),
    ],
)
def test_a_bad_policy_file_is_refused_naming_file_class_and_field(
    tmp_path: Path, file: str, match: dict[str, str], changes: dict[str, str], names: str
) -> None:
    seeds = seeds_copy(tmp_path)
    assert load_policy(seeds).classes  # the copy loads before the edit
    edit_csv(seeds / file, match, changes)
    with pytest.raises(PolicyError) as caught:
        load_policy(seeds)
    message = str(caught.value)
    assert str(seeds / file) in message and names in message
    assert "class '" in message and "field " in message


def test_a_missing_family_freshness_policy_is_refused(tmp_path: Path) -> None:
    seeds = seeds_copy(tmp_path)
    path = seeds / "freshness_by_family.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(ln for ln in lines if ln != "enterprise,encryption,60") + "\n")
    with pytest.raises(PolicyError, match=r"class 'enterprise' field freshness_days: missing"):
        load_policy(seeds)


def test_a_tenant_of_a_class_without_policy_is_refused() -> None:
    policy = load_policy()
    assert policy.require_class("standard", "t1")["retention_days"] == "365"
    with pytest.raises(PolicyError, match=r"tenant 't1': class 'gold' has no policy"):
        policy.require_class("gold", "t1")


def test_nothing_runs_on_a_half_valid_policy(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tenantproof.core.policy as policy_module

    seeds = seeds_copy(tmp_path)
    edit_csv(seeds / CLASSES, {"tenant_class": "standard"}, {"retention_days": "-1"})
    monkeypatch.setattr(
        "orchestration.resources.load_policy", lambda: policy_module.load_policy(seeds)
    )
    before = sorted(p.stat().st_mtime_ns for p in home.root.glob("deletions/**/*.json"))
    result = defs.resolve_job_def("retention_purge_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    assert sorted(p.stat().st_mtime_ns for p in home.root.glob("deletions/**/*.json")) == before


# -- residency --


def test_each_region_has_its_own_configurable_root_and_a_bundle_never_lands_in_another(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.runner import export

    policy = load_policy()
    assert region_roots(home, policy) == {
        "eu": (home.exports / "eu").resolve(),
        "us": (home.exports / "us").resolve(),
    }
    eu_root, us_root = tmp_path / "vol-eu" / "bundles", tmp_path / "vol-us" / "bundles"
    monkeypatch.setenv("TENANTPROOF_EXPORT_ROOT_EU", str(eu_root))
    monkeypatch.setenv("TENANTPROOF_EXPORT_ROOT_US", str(us_root))
    regions = {t: r for t, (_, r) in registry_classes(home).items()}
    eu_tenant = next(t for t, r in sorted(regions.items()) if r == "eu")
    us_tenant = next(t for t, r in sorted(regions.items()) if r == "us")
    export(settings_for(home), ["2026-10"], [eu_tenant, us_tenant])
    assert (eu_root / eu_tenant / "2026-10" / "manifest.json").exists()
    assert (us_root / us_tenant / "2026-10" / "manifest.json").exists()
    assert not list(eu_root.glob(f"{us_tenant}/*")) and not list(us_root.glob(f"{eu_tenant}/*"))
    assert verify.verify_bundle(eu_root / eu_tenant / "2026-10", platform_key(home)).ok

    roots = region_roots(settings_for(home).home, policy)
    check_residency(eu_root / eu_tenant / "2026-10", eu_tenant, "eu", roots)  # passes
    with pytest.raises(ResidencyViolation, match=rf"tenant {eu_tenant}: .* outside region eu"):
        check_residency(us_root / eu_tenant / "2026-10", eu_tenant, "eu", roots)
    nested = {"eu": eu_root.resolve(), "us": (eu_root / "us").resolve()}
    with pytest.raises(ResidencyViolation, match=r"lies under region us's exports root"):
        check_residency(eu_root / "us" / "t1" / "2026-10", "t1", "eu", nested)


# -- retention --


def test_retention_purges_rows_past_each_class_window_and_reports_per_tenant(home: Home) -> None:
    policy = load_policy()
    as_of = datetime(2027, 9, 1)  # standard (365 days) loses rows before 2026-09-01; others none
    con = connect(home.warehouse)
    try:
        violations = retention_violations(con, policy, as_of)
        assert violations, "rows past the standard window exist before the purge"
        assert {v.tenant_class for v in violations} == {"standard"}
        assert all(v.tenant_id in str(v) for v in violations)
        ledger_before = con.execute(
            "select source, sum(rows_read) - sum(rows_loaded) - sum(rows_quarantined) "
            "from raw.file_ledger group by 1 order by 1"
        ).fetchall()
        purges = purge_expired(con, home, policy, as_of)
        assert retention_violations(con, policy, as_of) == []
        assert {p.tenant_id for p in purges if p.removed} == {v.tenant_id for v in violations}
        assert all(p.removed == 0 for p in purges if p.tenant_class != "standard")
        expected = {}
        for v in violations:
            expected[v.tenant_id] = expected.get(v.tenant_id, 0) + v.rows
        assert {p.tenant_id: p.removed for p in purges if p.removed} == expected
        assert (
            con.execute(
                "select source, sum(rows_read) - sum(rows_loaded) - sum(rows_quarantined) "
                "from raw.file_ledger group by 1 order by 1"
            ).fetchall()
            == ledger_before
        )
        assert all(r.balanced for r in reconcile(con) if r.source != "incidents")
    finally:
        con.close()
    for purge in purges:
        if purge.removed:
            doc = json.loads(purge.record.read_text())
            assert doc["tenant_id"] == purge.tenant_id and doc["policy"]["retention_days"] == 365
            report = verify.verify_certificate(purge.record, platform_key(home))
            assert report.ok, report.problems


# -- the export schedule, per cadence --


def tenants_of(requests: list[dg.RunRequest], order: list[str]) -> set[str]:
    """The tenants the partition ranges of these run requests cover, in partition order."""
    covered = set()
    for r in requests:
        first = r.tags["dagster/asset_partition_range_start"].split("|")[1]
        last = r.tags["dagster/asset_partition_range_end"].split("|")[1]
        covered |= set(order[order.index(first) : order.index(last) + 1])
    return covered


def test_each_cadence_selects_only_its_classes_tenants_on_the_export_schedule(
    home: Home, tmp_path: Path
) -> None:
    policy = load_policy()
    names = {s.name for s in defs.schedules}
    assert "tenant_audit_bundles_schedule" in names  # its ticks come from the cadences
    classes = tenant_classes(home)
    order = sorted(classes, key=lambda t: int(t[1:]))
    weekly = cadence_run_requests(["weekly"], policy, order, classes, date(2026, 11, 9))
    assert all(
        r.tags[f"dagster/asset_partition_range_{end}"].startswith("2026-10|")
        for r in weekly
        for end in ("start", "end")
    )
    assert tenants_of(weekly, order) == {t for t, c in classes.items() if c == "regulated"}
    # a class that changes cadence moves schedule by a seed edit alone
    seeds = seeds_copy(tmp_path)
    edit_csv(seeds / CLASSES, {"tenant_class": "standard"}, {"export_cadence": "weekly"})
    moved = cadence_run_requests(["weekly"], load_policy(seeds), order, classes, date(2026, 11, 9))
    moved_tenants = tenants_of(moved, order)
    assert moved_tenants == {t for t, c in classes.items() if c in ("regulated", "standard")}
    monthly = cadence_run_requests(
        ["monthly"], load_policy(seeds), order, classes, date(2026, 11, 1)
    )
    assert monthly and all("t3" not in str(r.tags) for r in monthly)  # t3 is regulated
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("tenants", order)
        schedule = defs.resolve_schedule_def("tenant_audit_bundles_schedule")
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 9, 6),
            resources={"tenantproof": defs.resources["tenantproof"]},
        ) as context:
            requests = schedule.evaluate_tick(context).run_requests
    range_tags = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
    assert [[r.tags[k] for k in range_tags] for r in requests] == [
        [r.tags[k] for k in range_tags] for r in weekly
    ]


# -- access: delivery --


def test_delivery_only_to_allowed_recipients_and_recorded_in_access_history(home: Home) -> None:
    policy = load_policy()
    classes = tenant_classes(home)
    tenant = next(t for t, c in sorted(classes.items()) if c == "regulated")
    with pytest.raises(
        DeliveryRefused, match=rf"tenant {tenant} \(class regulated\).*tenant-admin"
    ):
        deliver_bundles(home, policy, tenants=[tenant], recipients=["tenant-admin"])
    assert not (home.root / "outbox").exists(), "a refused delivery delivers nothing"
    done = deliver_bundles(home, policy, tenants=[tenant], periods=["2026-10"])
    assert [(d.tenant_id, d.period, d.recipient) for d in done] == [
        (tenant, "2026-10", "tenant-auditor")
    ]
    assert (done[0].delivered_to / "manifest.json").read_bytes() == (
        done[0].bundle / "manifest.json"
    ).read_bytes()
    assert done[0].delivered_to.is_relative_to(home.root / "outbox" / "tenant-auditor")
    con = connect(home.warehouse)
    try:
        ingest_source(con, home.landing, ACCESS_HISTORY, policy)
        rows = con.execute(
            "select tenant_id, actor_id, access_type, reason from raw.access_history "
            "where reason = 'bundle delivery'"
        ).fetchall()
    finally:
        con.close()
    assert rows == [(tenant, "recipient:tenant-auditor", "export", "bundle delivery")]


# -- release gate --


def test_the_release_gate_passes_on_the_repository_artefacts(docs: Path) -> None:
    result = gate(docs)
    assert result.ok, result.reasons
    assert len(result.passed) == 7


@pytest.mark.parametrize(
    ("artefact", "reason"),
    [
        (artefacts.TIC, "Tenant Isolation Claim is missing"),
        (artefacts.TPM, "Tenant Policy Matrix is missing"),
        (artefacts.SSBR, "Shared Service Boundary Register is missing"),
        (artefacts.TAES, "Tenant Audit Export Spec is missing"),
        (artefacts.THREAT, "Threat Model Multi Tenant Addendum is missing"),
    ],
)
def test_the_gate_blocks_when_an_artefact_is_removed(
    docs: Path, artefact: str, reason: str
) -> None:
    assert gate(docs).ok
    artefacts.current(docs, artefact).path.unlink()
    result = gate(docs)
    assert [r for r in result.reasons if r.startswith(reason)], result.reasons
    assert len(result.reasons) == 1


def test_the_gate_blocks_an_incomplete_or_outdated_matrix(docs: Path, tmp_path: Path) -> None:
    matrix = artefacts.current(docs, artefacts.TPM).path
    text = matrix.read_text()
    matrix.write_text(text.replace("| Retention policy | 2555 days", "| Retention | 2555 days"))
    reasons = gate(docs).reasons
    assert "Tenant Policy Matrix is incomplete: class regulated has no Retention policy" in reasons
    matrix.write_text(text)
    assert gate(docs).ok
    seeds = seeds_copy(tmp_path)
    edit_csv(seeds / CLASSES, {"tenant_class": "regulated"}, {"notification_sla_hours": "12"})
    reasons = gate(docs, seeds_dir=seeds).reasons
    assert any(
        r.startswith("Tenant Policy Matrix is out of date with the policy data") for r in reasons
    )


def test_the_gate_blocks_failing_leakage_tests_and_a_failed_export(
    docs: Path, tmp_path: Path
) -> None:
    ok_file, broken = tmp_path / "test_ok.py", tmp_path / "test_leak.py"
    ok_file.write_text("def test_isolated():\n    assert True\n")
    broken.write_text("def test_no_foreign_rows():\n    assert ['t2'] == []\n")
    runner = release_gate.run_leakage_tests
    assert gate(docs, test_runner=runner, leakage_tests=[str(ok_file)]).ok
    result = gate(docs, test_runner=runner, leakage_tests=[str(broken)])
    assert len(result.reasons) == 1
    assert result.reasons[0].startswith("cross-tenant leakage tests are not passing")
    assert "1 failed" in result.reasons[0]
    result = gate(docs, export_probe=lambda p: {**dict.fromkeys(p.classes), "regulated": "boom"})
    assert result.reasons == ["an audit export cannot be generated for class regulated: boom"]


def test_the_gate_export_probe_really_exports_a_tenant_of_each_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANTPROOF_AS_OF", "2026-11-15")
    problems = release_gate.scratch_export(load_policy())
    assert problems == {"enterprise": None, "regulated": None, "standard": None}


def test_the_cli_gate_exits_non_zero_with_one_line_per_reason(
    docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tenantproof.cli.main import main

    assert main(["release-gate", "--folder", str(docs), "--skip-export", "--skip-tests"]) == 0
    artefacts.current(docs, artefacts.THREAT).path.unlink()
    artefacts.current(docs, artefacts.TAES).path.unlink()
    capsys.readouterr()
    assert main(["release-gate", "--folder", str(docs), "--skip-export", "--skip-tests"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(ln.startswith("BLOCKED: ") for ln in lines)


# -- a tenant that moves class changes behaviour with no code change --


def test_a_tenant_that_moves_class_changes_behaviour_with_no_code_change(home: Home) -> None:
    import pyarrow.parquet as pq

    from orchestration.runner import build, export

    policy = load_policy()
    tenant = "t1"
    assert tenant_classes(home)[tenant] == "standard"
    bundle = home.exports / "eu" / tenant / "2026-10"
    before = json.loads((bundle / "manifest.json").read_text())
    assert (before["tenant_class"], before["redaction_profile"]) == ("standard", "standard")
    emails = pq.read_table(bundle / "audit_events.parquet").column("actor_email").to_pylist()
    assert any(emails), "the standard profile hashes emails: values are present"
    # delivered on the period's last day, so the row falls in the period re-exported below
    deliver_bundles(
        home,
        policy,
        tenants=[tenant],
        periods=["2026-10"],
        recipients=["tenant-admin"],
        now=datetime(2026, 10, 31, 12, tzinfo=UTC),
    )
    as_of = datetime(2027, 9, 1)
    con = connect(home.warehouse, read_only=True)
    try:
        assert tenant in {v.tenant_id for v in retention_violations(con, policy, as_of)}
    finally:
        con.close()

    registry = home.landing / "tenants" / "tenants.csv"
    with registry.open(newline="", encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["tenant_id"] == tenant)
    moved = home.landing / "tenants" / "tenants-2026-11-moves.csv"
    with moved.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        writer.writerow({**row, "tenant_class": "regulated"})
    build(settings_for(home))
    export(settings_for(home), ["2026-10"], [tenant])

    assert tenant_classes(home)[tenant] == "regulated"
    after = json.loads((bundle / "manifest.json").read_text())
    assert (after["tenant_class"], after["redaction_profile"]) == ("regulated", "minimal")
    # regulated requires encryption: the re-exported files are encrypted under t1's key
    assert all(f.get("encrypted") for f in after["files"] if f["format"] in ("parquet", "csv"))
    assert not any(f.get("encrypted") for f in before["files"])
    with pytest.raises(OSError, match="encrypted"):
        pq.read_table(bundle / "audit_events.parquet")
    table = read_table(bundle / "audit_events.parquet", home.root)
    assert "actor_email" not in table.column_names or not any(
        table.column("actor_email").to_pylist()
    ), "the minimal profile drops emails"
    with pytest.raises(DeliveryRefused, match=rf"tenant {tenant} \(class regulated\)"):
        deliver_bundles(home, policy, tenants=[tenant], recipients=["tenant-admin"])
    assert [
        d.recipient for d in deliver_bundles(home, policy, tenants=[tenant], periods=["2026-10"])
    ] == ["tenant-auditor"]
    # the earlier delivery (to tenant-admin, while standard) was loaded by the build and is in
    # the re-exported bundle's access history
    access = read_table(bundle / "access_history.parquet", home.root).to_pylist()
    delivered = [r for r in access if r["reason"] == "bundle delivery"]
    assert [r["access_type"] for r in delivered] == ["export"]
    # ...with its actor hashed, as the regulated class's minimal profile says for actor_id
    assert len(delivered[0]["actor_id"]) == 64 and "tenant-admin" not in delivered[0]["actor_id"]
    con = connect(home.warehouse, read_only=True)
    try:
        assert tenant not in {v.tenant_id for v in retention_violations(con, policy, as_of)}
    finally:
        con.close()


# -- encryption --


def test_encrypted_classes_files_cannot_be_read_without_the_key_and_can_with_it(
    built: BuiltHome, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    from exports.encryption import KEY_STORE

    classes = tenant_classes(built.home)
    clear = built.home.exports / "eu" / "t1" / "2026-10"  # standard: no encryption
    assert classes["t1"] == "standard" and pq.read_table(clear / "evidence.parquet").num_rows >= 0
    tenant = "t2"
    assert classes[tenant] == "enterprise"
    bundle = built.home.exports / "us" / tenant / "2026-10"
    doc = json.loads((bundle / "manifest.json").read_text())
    data = [f for f in doc["files"] if f["format"] in ("parquet", "csv")]
    assert len(data) == 10 and all(f["encrypted"] is True for f in data)
    assert {f["scheme"] for f in data} == {contract.PARQUET_SCHEME, contract.CSV_SCHEME}
    assert doc["csv_encryption"] == "aes-256-gcm"
    with pytest.raises(OSError, match="encrypted"):
        pq.read_table(bundle / "audit_events.parquet")
    assert b"tenant_id" not in (bundle / "audit_events.csv").read_bytes()
    keys = verify.load_tenant_keys(built.home.keys / KEY_STORE)
    table = pq.read_table(
        bundle / "audit_events.parquet",
        decryption_properties=verify.parquet_decryption(tenant, keys[tenant]),
    )
    rows = next(f["rows"] for f in data if f["name"] == "audit_events.parquet")
    assert table.num_rows == rows and set(table.column("tenant_id").to_pylist()) <= {tenant}
    text = verify.decrypt_csv(
        (bundle / "audit_events.csv").read_bytes(), keys[tenant], "audit_events.csv"
    )
    assert text.decode().splitlines()[0].startswith(table.column_names[0])
    assert len(text.decode().strip().splitlines()) == rows + 1
    wrong = next(k for t, k in sorted(keys.items()) if t != tenant)  # another tenant's key
    with pytest.raises(InvalidTag):  # the tenant key does not unwrap the file's data key
        pq.read_table(
            bundle / "audit_events.parquet",
            decryption_properties=verify.parquet_decryption(tenant, wrong),
        )

    # the auditor's verifier: hashes always; content only with the key
    without = verify.verify_bundle(bundle, platform_key(built.home))
    assert without.ok, without.problems
    assert any("encrypted, content not checked" in n for n in without.notes)
    key_file = tmp_path / "keys.json"
    key_file.write_text(json.dumps({tenant: keys[tenant]}))
    with_key = verify.verify_bundle(
        bundle, platform_key(built.home), keys=verify.load_tenant_keys(key_file)
    )
    assert with_key.ok and any("decrypted with the tenant key" in c for c in with_key.checked)
    bad = verify.verify_bundle(bundle, platform_key(built.home), keys={tenant: wrong})
    assert not bad.ok and any(
        "cannot be read" in p or "does not decrypt with the tenant's key" in p for p in bad.problems
    )
    pin = verify.key_fingerprint(
        verify.load_public_key(platform_key(built.home), "the platform key")
    )
    assert verify.main([str(bundle), "--key-file", str(key_file), "--key-sha256", pin]) == 0


def test_a_class_whose_csvs_are_left_out_gets_parquet_only_bundles(
    home: Home, tmp_path: Path
) -> None:
    from exports.pipeline import export_bundles

    seeds = seeds_copy(tmp_path)
    edit_csv(seeds / CLASSES, {"tenant_class": "enterprise"}, {"csv_encryption": "omit"})
    policy = load_policy(seeds)
    con = connect(home.warehouse)
    try:
        report = export_bundles(con, home, ["t2"], ["2026-10"], policy, run_id="omit-csv")
    finally:
        con.close()
    bundle = report.published[0]
    assert not list(bundle.glob("*.csv"))
    doc = json.loads((bundle / "manifest.json").read_text())
    assert doc["csv_encryption"] == "omit" and doc["policy_version"] == policy.version
    assert {f["format"] for f in doc["files"]} == {"parquet", "json", "html"}
    assert verify.verify_bundle(bundle, platform_key(home)).ok


# -- a fourth class, added as data only --


def test_a_fourth_class_added_as_data_runs_through_the_whole_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dbt project (models, macros, seeds, tests, profiles) is copied to a temporary folder
    and a class is added to its seeds only; the same code ingests, builds (dbt in that project)
    and exports with the copied policy."""
    import os
    import subprocess
    import sys

    import tenantproof.demo.generate as generate_module
    from exports.pipeline import export_bundles
    from orchestration.resources import dbt_executable
    from tenantproof.core.home import PROJECT_DIR
    from tenantproof.core.keys import LocalKeyStore
    from tenantproof.core.oplogs import load_operational_logs
    from tenantproof.core.sources import EVENT_SOURCES, TENANTS
    from tenantproof.demo.generate import generate
    from tenantproof.ingest.registry import publish_registry, sync_hash_keys

    project = tmp_path / "project"
    project.mkdir()
    for name in ("dbt_project.yml",):
        shutil.copy(PROJECT_DIR / name, project / name)
    for name in ("models", "macros", "seeds", "data-tests", "profiles"):
        shutil.copytree(PROJECT_DIR / name, project / name)
    seeds = project / "seeds"
    rows = {
        CLASSES: "sovereign,minimal,1095,eu,true,monthly,parquet,tenant-auditor|dpo,12,14,"
        "Sovereign DPA: EU-only processing,omit",
        "freshness_by_family.csv": "\n".join(f"sovereign,{f},14" for f in FAMILIES),
    }
    for file, text in rows.items():
        with (seeds / file).open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    controls = (
        (seeds / "controls.csv")
        .read_text()
        .replace("standard|enterprise|regulated", "standard|enterprise|regulated|sovereign")
    )
    (seeds / "controls.csv").write_text(controls)
    policy = load_policy(seeds)
    assert "sovereign" in policy.classes and policy.version != load_policy().version

    root = tmp_path / "home"
    home = Home(root).ensure()
    monkeypatch.setenv(HOME_ENV, str(root))
    monkeypatch.setenv("TENANTPROOF_AS_OF", "2026-11-15")
    monkeypatch.setattr(generate_module, "SEEDS_DIR", seeds)
    # 8 tenants: classes cycle and regions alternate, so t4 is sovereign in us, t8 in eu
    generate(root, tenants=8, events=300, seed=5, as_of=date(2026, 11, 15))
    con = connect(home.warehouse)
    try:
        ingest_source(con, home.landing, TENANTS, policy)
        sync_hash_keys(con, LocalKeyStore(home.keys / "tenant_hash_keys.json"))
        publish_registry(con, home.registry)
        for source in EVENT_SOURCES:
            ingest_source(con, home.landing, source, policy)
        load_operational_logs(con, home.isolation_log, home.exports)
        refused = con.execute(
            "select tenant_hint, reason_code from raw.quarantine where source = 'tenants'"
        ).fetchall()
    finally:
        con.close()
    assert ("t4", "region_not_allowed") in refused  # the new class's residency is enforced
    classes = tenant_classes(home)
    assert [t for t, c in classes.items() if c == "sovereign"] == ["t8"], classes
    done = subprocess.run(
        [
            dbt_executable(),
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project / "profiles"),
            "--quiet",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(Path(sys.executable).parent)},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tenant = next(t for t, c in sorted(classes.items()) if c == "sovereign")
    con = connect(home.warehouse)
    try:
        report = export_bundles(con, home, sorted(classes), ["2026-10"], policy, run_id="fourth")
    finally:
        con.close()
    bundle = next(b for b in report.published if b.parent.name == tenant)
    assert bundle.parent.parent.name == "eu"
    doc = json.loads((bundle / "manifest.json").read_text())
    assert (doc["tenant_class"], doc["redaction_profile"]) == ("sovereign", "minimal")
    assert doc["policy_version"] == policy.version and doc["csv_encryption"] == "omit"
    assert not list(bundle.glob("*.csv"))
    assert verify.verify_bundle(bundle, platform_key(home)).ok
    with pytest.raises(DeliveryRefused):
        deliver_bundles(home, policy, tenants=[tenant], recipients=["tenant-admin"])
    assert {d.recipient for d in deliver_bundles(home, policy, tenants=[tenant])} == {
        "tenant-auditor",
        "dpo",
    }
    assert "## Class `sovereign`" in artefacts.render_policy_matrix(policy)
    # its schedule, incident SLA, freshness and retention come from the same rows, no code
    order = sorted(classes, key=lambda t: int(t[1:]))
    due = cadence_run_requests(["monthly"], policy, order, classes, date(2026, 12, 1))
    covered = tenants_of(due, order)
    assert tenant in covered
    con = connect(home.warehouse, read_only=True)
    try:
        sla = con.execute(
            "select distinct notification_sla_hours from marts.fct_incident_notifications "
            "where tenant_id = ?",
            [tenant],
        ).fetchall()
        freshness = con.execute(
            "select distinct freshness_sla_days from marts.fct_evidence_freshness "
            "where tenant_id = ? and control_id = 'AC-1'",
            [tenant],
        ).fetchall()
        later = datetime(2026, 11, 15) + timedelta(days=1095 + 400)
        kept = {v.tenant_id for v in retention_violations(con, policy, later)}
    finally:
        con.close()
    assert sla == [(12,)]
    assert freshness == [(14,)]  # the class's 14 days, not the control's 90
    assert tenant in kept  # past its 1095-day window the tenant's rows show as violations


def test_the_purge_retention_command_runs_the_dagster_job(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    from tenantproof.cli.main import main

    assert main(["purge-retention", "--as-of", "2026-11-15"]) == 0
    assert capsys.readouterr().out.strip().endswith("purged 0 row(s): {}")  # nothing expired yet
    assert main(["purge-retention", "--as-of", "2027-09-01"]) == 0
    out = capsys.readouterr().out
    purged = json.loads(out.strip().split(": ", 1)[1].replace("'", '"'))
    classes = tenant_classes(home)
    assert purged and {classes[t] for t in purged} == {"standard"}
    records = sorted(home.deletions.glob("*/retention/*.json"))
    assert {r.parts[-3] for r in records} == set(purged)


def test_deleting_a_tenant_removes_its_delivered_copies_and_leaves_others_readable(
    home: Home,
) -> None:
    from tenantproof.erasure.deletion import delete_tenant

    policy = load_policy()
    classes = tenant_classes(home)
    gone, kept = "t3", "t6"  # both regulated: encrypted bundles in the outbox
    assert classes[gone] == classes[kept] == "regulated"
    deliver_bundles(home, policy, tenants=[gone, kept], periods=["2026-10"])
    outbox = home.root / "outbox" / "tenant-auditor"
    delivered = outbox / "eu" / gone / "2026-10" / "manifest.json"
    assert delivered.exists()
    delivered_sha = contract.sha256_file(delivered)
    kept_copy = next(outbox.glob(f"*/{kept}/2026-10"))
    before = (kept_copy / "audit_events.parquet").read_bytes()
    result = delete_tenant(home, gone, "contract ended", requested_by="test")
    assert result.certificate.exists()
    doc = json.loads(result.certificate.read_text())
    assert doc["delivered_copies_removed"] == [
        {"copy": f"outbox/tenant-auditor/eu/{gone}/2026-10", "manifest_sha256": delivered_sha}
    ]
    assert not list(outbox.glob(f"*/{gone}")), "the delivered copy went with the tenant"
    assert (kept_copy / "audit_events.parquet").read_bytes() == before
    assert verify.verify_bundle(kept_copy, platform_key(home)).ok
