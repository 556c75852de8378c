"""Published bundles hold only their tenant's rows, redacted and validated (spec §2.3, §7, §8)."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil

import pyarrow.parquet as pq

from exports import verify
from exports.encryption import KEY_STORE, encrypt_parquet
from exports.verify import check_bundle
from tenantproof.analytics.reconcile import reconcile
from tenantproof.core.home import SEEDS_DIR
from tenantproof.core.policy import load_policy
from tenantproof.core.warehouse import connect
from tests.bundles import (  # read_*: decrypt encrypted classes' files
    free_text_redacted,
    read_table,
    read_text,
)
from tests.conftest import TENANTS, bundle_dirs, settings_for


def rows(built, tenant: str, kind: str) -> list[dict]:
    out = []
    for folder in bundle_dirs(built.home):
        if folder.parts[-2] == tenant:
            out += read_table(folder / f"{kind}.parquet", built.home.root).to_pylist()
    return out


def tenant_keys(built) -> dict[str, str]:
    """The tenants' encryption keys, as the key file an auditor is handed."""
    return verify.load_tenant_keys(built.home.keys / KEY_STORE)


def hash_keys(built) -> dict[str, str]:
    """The tenants' hashing keys, from the home's key store (what the build loads)."""
    return json.loads((built.home.keys / "tenant_hash_keys.json").read_text(encoding="utf-8"))


def landing_access(built) -> dict[str, dict[str, str]]:
    """The access history as delivered (landing CSV files), by access_id: the source the
    bundles are compared with, read without the platform."""
    out = {}
    for path in sorted((built.home.landing / "access_history").rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                out[row["access_id"]] = row
    return out


def in_export(row: dict[str, str], built) -> bool:
    """A delivered row that reaches a bundle: it names a tenant and falls in an exported period
    (accessed_at is delivered in UTC, ``YYYY-MM-DDTHH:MM:SSZ``)."""
    return bool(row["tenant_id"]) and row["accessed_at"][:7] in built.periods


def redacted(method: str, value: str, key: str) -> str | None:
    """What macros/redaction.sql makes of a delivered value: the keyed hash is
    sha256(<tenant hashing key> ':' <value>), hex."""
    if not value:
        return None
    return {
        "keep": value,
        "hash": hashlib.sha256(f"{key}:{value}".encode()).hexdigest(),
        "mask": value[:2] + "***",
    }.get(method)


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
    keys = tenant_keys(built)
    encrypted = 0
    for folder in folders:
        tenant = folder.parts[-2]
        manifest = json.loads((folder / "manifest.json").read_text())
        if any(f.get("encrypted") for f in manifest["files"]):
            # without its key the check reads no row of an encrypted file
            assert tenant in keys, folder
            encrypted += 1
        problems = check_bundle(folder, built.foreign_identifiers(tenant), keys=keys)
        assert problems == [], (folder, problems)
        assert (manifest["tenant_class"], manifest["residency_region"]) == regions[tenant]
        assert folder.parts[-3] == regions[tenant][1]
        assert manifest["policy_version"] == policy.version
        assert manifest["validation"]["success"] is True
        assert manifest["redaction_profile"] == policy.profile_of(manifest["tenant_class"])
    assert encrypted >= len(folders) // 2, "most classes encrypt: their rows are checked too"


def test_the_contract_check_catches_a_planted_foreign_row(built, tmp_path):
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


def test_the_contract_check_reads_the_rows_of_an_encrypted_bundle_with_the_key(built, tmp_path):
    keys = tenant_keys(built)
    folder = next(
        f
        for f in bundle_dirs(built.home)
        if any(e.get("encrypted") for e in json.loads((f / "manifest.json").read_text())["files"])
    )
    tenant = folder.parts[-2]
    copy = tmp_path / folder.parts[-3] / tenant / folder.parts[-1]
    shutil.copytree(folder, copy)
    path = copy / "controls.parquet"
    table = read_table(path, built.home.root)
    leaked = [{**table.to_pylist()[0], "tenant_id": "t2" if tenant != "t2" else "t3"}]
    pq.write_table(table.from_pylist(table.to_pylist() + leaked, schema=table.schema), path)
    encrypt_parquet(path, tenant, keys[tenant])  # as the export encrypts it
    foreign = "controls.parquet: 1 row(s) whose tenant_id is not"
    assert any(p.startswith(foreign) for p in check_bundle(copy, keys=keys))
    # without the key only hashes and sizes are compared: the row itself goes unseen
    assert not any(p.startswith(foreign) for p in check_bundle(copy))


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


def test_access_history_pii_follows_each_class_redaction_profile(built):
    """Each PII column of every exported access row is exactly its delivered value redacted by
    the tenant's profile (seeds/redaction_rules.csv), the hash keyed with the tenant's key."""
    policy = load_policy(SEEDS_DIR)
    delivered, keys = landing_access(built), hash_keys(built)
    checked: dict[str, set[str]] = {}
    for tenant, (tenant_class, _) in registry(built).items():
        methods = policy.redaction[policy.profile_of(tenant_class)]
        access = rows(built, tenant, "access_history")
        assert access
        for row in access:
            source = delivered[row["access_id"]]
            for column in ("impersonated_user", "actor_email", "actor_ip", "actor_id"):
                expected = redacted(methods[column], source[column], keys[tenant])
                assert row[column] == expected, (tenant, row["access_id"], column)
                if source[column]:
                    checked.setdefault(column, set()).add(methods[column])
    assert checked["impersonated_user"] == {"hash"}
    assert checked["actor_email"] == {"hash", "drop"}
    assert checked["actor_ip"] == {"mask", "hash", "drop"}
    assert checked["actor_id"] == {"keep", "hash"}


def test_one_pii_value_hashes_differently_for_each_tenant_with_its_own_key(built):
    """A platform staff address seen by several tenants: each tenant's bundle holds
    sha256(<that tenant's hashing key> ':' <address>), so the tenants' hashes differ and cannot
    be joined across bundles."""
    policy = load_policy(SEEDS_DIR)
    delivered, keys = landing_access(built), hash_keys(built)
    hashed = {
        t
        for t, (c, _) in registry(built).items()
        if policy.redaction[policy.profile_of(c)]["actor_email"] == "hash"
    }
    seen: dict[str, dict[str, set[str]]] = {}  # address -> tenant -> values in its bundle
    for tenant in sorted(hashed):
        for row in rows(built, tenant, "access_history"):
            email = delivered[row["access_id"]]["actor_email"]
            seen.setdefault(email, {}).setdefault(tenant, set()).add(row["actor_email"])
    shared = {email: by for email, by in seen.items() if len(by) >= 2}
    assert shared, "platform staff act on several tenants"
    for email, by_tenant in shared.items():
        for tenant, values in by_tenant.items():
            assert values == {hashlib.sha256(f"{keys[tenant]}:{email}".encode()).hexdigest()}
        assert len({v for values in by_tenant.values() for v in values}) == len(by_tenant)
    assert len(set(keys.values())) == len(keys), "every tenant has its own hashing key"


def test_impersonation_is_logged_in_the_impersonated_tenants_bundle(built):
    """Compared with the access history as delivered, not with the marts the bundles come from:
    every delivered impersonation reaches its own tenant's bundle, and only that one, with its
    reason (its free-text personal data redacted)."""
    delivered = [r for r in landing_access(built).values() if in_export(r, built)]
    impersonations = [r for r in delivered if r["access_type"] == "impersonation"]
    assert len({r["tenant_id"] for r in impersonations}) >= len(built.identifiers) // 2
    assert all(r["reason"] for r in impersonations), "the generator gives each one a reason"
    for tenant in built.identifiers:
        access = rows(built, tenant, "access_history")
        exported = {a["access_id"]: a for a in access if a["access_type"] == "impersonation"}
        expected = {r["access_id"]: r for r in impersonations if r["tenant_id"] == tenant}
        assert set(exported) == set(expected), tenant
        for access_id, a in exported.items():
            assert a["tenant_id"] == tenant
            assert a["is_admin_action"] and a["impersonated_user"]
            want = free_text_redacted(expected[access_id]["reason"])  # the scrub's work
            assert a["reason"] == want, (tenant, access_id)
            assert not a["admin_without_reason"]
    flagged = {
        a["access_id"]
        for t in built.identifiers
        for a in rows(built, t, "access_history")
        if a["admin_without_reason"]
    }
    unreasoned = {
        r["access_id"]
        for r in delivered
        if r["access_type"] in ("admin", "impersonation") and not r["reason"].strip()
    }
    assert flagged == unreasoned and flagged


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
    from orchestration.runner import build

    def counts():
        con = connect(use_home.home.warehouse, read_only=True)
        try:
            return reconcile(con), con.execute("select count(*) from raw.quarantine").fetchone()
        finally:
            con.close()

    before = counts()
    build(settings_for(use_home.home))
    assert counts() == before
