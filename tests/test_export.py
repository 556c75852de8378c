"""Published bundles hold only their tenant's rows, redacted and validated (spec §2.3, §7, §8)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from exports.contract import check_bundle
from tenantproof.config import SEEDS_DIR
from tenantproof.policy import load_policy
from tenantproof.reconcile import reconcile
from tenantproof.warehouse import connect
from tests.bundles import read_table, read_text  # decrypts encrypted classes' files
from tests.conftest import TENANTS, bundle_dirs


def rows(built, tenant: str, kind: str) -> list[dict]:
    out = []
    for folder in bundle_dirs(built.home):
        if folder.parts[-2] == tenant:
            out += read_table(folder / f"{kind}.parquet", built.home.root).to_pylist()
    return out


def registry(built) -> dict[str, tuple[str, str]]:
    return {
        t: (c, r)
        for t, c, r in built.query(
            "select tenant_id, tenant_class, residency_region from raw.tenants"
        )
    }


def test_every_tenant_and_period_has_a_bundle_that_keeps_the_contract(built):
    folders = bundle_dirs(built.home)
    assert len(built.periods) == 3
    assert len(folders) == TENANTS * len(built.periods)
    policy = load_policy(SEEDS_DIR)
    regions = registry(built)
    for folder in folders:
        tenant = folder.parts[-2]
        assert check_bundle(folder, built.foreign_identifiers(tenant)) == [], folder
        manifest = json.loads((folder / "manifest.json").read_text())
        assert (manifest["tenant_class"], manifest["residency_region"]) == regions[tenant]
        assert folder.parts[-3] == regions[tenant][1]
        assert manifest["policy_version"] == policy.version
        assert manifest["validation"]["success"] is True
        assert manifest["redaction_profile"] == policy.profile_of(manifest["tenant_class"])


def test_the_contract_check_catches_a_planted_foreign_row(built, tmp_path):
    import shutil

    folder = bundle_dirs(built.home)[0]
    copy = tmp_path / folder.parts[-3] / folder.parts[-2] / folder.parts[-1]
    shutil.copytree(folder, copy)
    table = pq.read_table(copy / "controls.parquet")
    leaked = table.to_pylist()[:1]
    leaked[0]["tenant_id"] = "t2" if folder.parts[-2] != "t2" else "t3"
    pq.write_table(
        table.from_pylist(table.to_pylist() + leaked, schema=table.schema),
        copy / "controls.parquet",
    )
    problems = check_bundle(copy)
    assert any("sha256 does not match" in p for p in problems)
    assert any("row(s) whose tenant_id is not" in p for p in problems)


def test_free_text_naming_another_tenant_is_scrubbed(built):
    reasons = [r["reason"] or "" for r in rows(built, "t1", "audit_events")]
    scrubbed = [r for r in reasons if "[other tenant]" in r]
    assert scrubbed, "the generator plants reasons naming other tenants in t1's events"
    foreign = built.foreign_identifiers("t1")
    for text in reasons:
        assert not any(f" {w} " in f" {text} " for w in foreign), text


def test_csv_formula_payloads_are_neutralised(built):
    found = 0
    for folder in bundle_dirs(built.home):
        for kind in ("audit_events", "access_history"):
            text = read_text(folder / f"{kind}.csv", built.home.root)
            assert ",=HYPERLINK" not in text and ',"=HYPERLINK' not in text
            found += text.count("'=HYPERLINK") + text.count("'@SUM") + text.count("'+cmd")
    assert found >= 2


def test_pii_follows_each_class_redaction_profile(built):
    policy = load_policy(SEEDS_DIR)
    checked = set()
    for tenant, (tenant_class, _) in registry(built).items():
        methods = policy.redaction[policy.profile_of(tenant_class)]
        events = rows(built, tenant, "audit_events")
        tenant_events = [e for e in events if e["attribution"] == "tenant"]
        assert tenant_events
        for column in ("actor_email", "actor_ip", "user_agent", "actor_id"):
            values = [e[column] for e in tenant_events if e[column] is not None]
            method = methods[column]
            if method == "drop":
                assert values == []
            elif method == "hash":
                assert values and all(len(v) == 64 and int(v, 16) >= 0 for v in values)
            elif method == "mask":
                assert values and all(v.endswith("***") and len(v) <= 5 for v in values)
            else:
                assert values and not any(v.endswith("***") for v in values)
            checked.add(method)
    assert checked == {"keep", "hash", "mask", "drop"}


def test_impersonation_is_logged_in_the_impersonated_tenants_bundle(built):
    in_marts = built.query(
        "select tenant_id, access_id, reason from marts.fct_access_history "
        "where access_type = 'impersonation' and period = any(?)",
        [built.periods],
    )
    assert len({t for t, _, _ in in_marts}) >= len(built.identifiers) // 2
    for tenant in built.identifiers:
        access = rows(built, tenant, "access_history")
        impersonations = {a["access_id"]: a for a in access if a["access_type"] == "impersonation"}
        assert set(impersonations) == {a for t, a, _ in in_marts if t == tenant}, tenant
        reasons = {a: r for t, a, r in in_marts if t == tenant}
        for access_id, a in impersonations.items():
            assert a["is_admin_action"] and a["impersonated_user"]
            assert a["reason"] == reasons[access_id]
    with_reason = [a for _, a, reason in in_marts if reason]
    assert with_reason, "the reason travels with the row"
    flagged = sum(
        a["admin_without_reason"]
        for t in built.identifiers
        for a in rows(built, t, "access_history")
    )
    in_marts = built.query(
        "select count(*) from marts.fct_access_history "
        "where admin_without_reason and period = any(?)",
        [built.periods],
    )[0][0]
    assert flagged == in_marts >= 1


def test_shared_service_evidence_reaches_exactly_the_tenants_it_applies_to(built):
    for tenant, (tenant_class, region) in registry(built).items():
        services = {r["service_id"] for r in rows(built, tenant, "shared_service_evidence")}
        assert {"svc-auth", "svc-messaging"} <= services
        assert ("svc-observability" in services) == (region == "eu")
        assert ("svc-billing" in services) == (tenant_class in ("enterprise", "regulated"))
        assert all(r["applies_because"] for r in rows(built, tenant, "shared_service_evidence"))
        controls = {r["control_id"] for r in rows(built, tenant, "controls")}
        assert ("IR-1" in controls) == (tenant_class == "regulated")


def test_every_loaded_row_is_accounted_for(built):
    con = connect(built.home.warehouse, read_only=True)
    try:
        results = reconcile(con)
    finally:
        con.close()
    for r in results:
        assert r.balanced, r
        assert r.quarantined > 0 if r.source != "evidence_events" else True
    exported = sum(len(rows(built, t, "audit_events")) for t in built.identifiers)
    in_marts = built.query(
        "select count(*) from marts.fct_audit_events where period = any(?)", [built.periods]
    )[0][0]
    assert exported == in_marts


def test_rebuilding_on_the_same_files_changes_no_count(use_home):
    from tenantproof.cli import build

    def counts():
        con = connect(use_home.home.warehouse, read_only=True)
        try:
            return reconcile(con), con.execute("select count(*) from raw.quarantine").fetchone()
        finally:
            con.close()

    before = counts()
    build(use_home.home)
    assert counts() == before
