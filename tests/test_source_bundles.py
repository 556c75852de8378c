"""A home built from the real vendor samples: `tenantproof build` names the files no mapping
reads, each source mapping is a Dagster asset with its counts, and the vendors' records reach
their own tenant's bundles and no other's."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tenantproof.core.home import Home
from tests.bundles import read_table
from tests.sample_home import write_sample_landing

APP_MAPPING = """name: app_events
version: 1
entity: audit_events
description: The platform's own application events.
read:
  - files: "app/**/*.jsonl"
    format: jsonl
tenant:
  delivery_folder: true
columns:
  event_id: id
  occurred_at:
    timestamp: ts
    format: epoch_s
  action: what
"""


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "tenantproof.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    home = tmp_path_factory.mktemp("vendor-home")
    landing = home / "landing"
    write_sample_landing(landing)
    (landing / "aws_cloudtrail" / "README.txt").write_text("delivered by the trail\n")
    (landing / "audit_events").mkdir()
    (landing / "audit_events" / "extra.json.gz").write_bytes(b"\x1f\x8b")
    # the platform's own source, added as one mapping file in the home
    (home / "sources").mkdir()
    (home / "sources" / "app_events.yml").write_text(APP_MAPPING)
    app = landing / "app" / "tenants" / "globex"
    app.mkdir(parents=True)
    (app / "a.jsonl").write_text(
        json.dumps({"id": "app-1", "ts": 1704153600, "what": "report.viewed"}) + "\n"
    )
    build = _cli(home, "build")
    assert build.returncode == 0, build.stdout + build.stderr
    export = _cli(home, "export", "--period", "2024-01", "--period", "2024-04")
    assert export.returncode == 0, export.stdout + export.stderr
    return home, build


def test_build_names_the_files_no_mapping_reads(built):
    _, build = built
    assert "not read: 2 landing file(s) (see `tenantproof sources list`):" in build.stdout
    assert "  audit_events/extra.json.gz: no source mapping reads it" in build.stdout
    assert "  aws_cloudtrail/README.txt: no source mapping reads it" in build.stdout


def test_each_mapping_is_an_asset_with_its_counts(built):
    home, _ = built
    with dg.DagsterInstance.from_config(str(Home(home).dagster_home)) as instance:

        def metadata(*key: str) -> dict:
            event = instance.get_latest_materialization_event(dg.AssetKey(list(key)))
            assert event is not None, key
            return {k: v.value for k, v in event.asset_materialization.metadata.items()}

        cloudtrail = metadata("sources", "aws_cloudtrail")
        assert (cloudtrail["rows_read"], cloudtrail["rows_loaded"]) == (573, 198)
        assert cloudtrail["rows_quarantined"] == 573 - 198
        assert cloudtrail["quarantine_by_reason"]["unknown_source_account"] == 106
        app = metadata("sources", "app_events")  # the home's own mapping has its asset
        assert (app["rows_read"], app["rows_loaded"]) == (1, 1)
        raw = metadata("raw", "audit_events")
        assert raw["rows_by_source"] == {
            "app_events": 1,
            "aws_cloudtrail": 198,
            "github_audit": 43,
            "kubernetes_audit": 3,
            "okta_system_log": 33,
        }


def _bundle_rows(home: Path, tenant: str, period: str) -> list[dict]:
    (bundle,) = list((home / "exports").glob(f"*/{tenant}/{period}"))
    return read_table(bundle / "audit_events.parquet", home).to_pylist()


def test_vendor_records_reach_their_tenants_bundles_only(built):
    home, _ = built
    acme = _bundle_rows(home, "acme", "2024-01")
    globex = _bundle_rows(home, "globex", "2024-01")
    initech = _bundle_rows(home, "initech", "2024-04")
    # acme's account 123456789012 has 26 CloudTrail events in 2024-01
    own = [r for r in acme if r["attribution"] == "tenant"]
    assert len(own) == 26
    assert {r["tenant_id"] for r in acme} == {"acme"}
    # each record's id: its eventID, or the sha256 of its delivered line where it has none
    lines = (home / "landing" / "aws_cloudtrail" / "panther_cloudtrail_tests.jsonl").read_text()
    sample = {
        json.loads(line).get("eventID") or hashlib.sha256(line.encode()).hexdigest()
        for line in lines.splitlines()
        if "123456789012"
        in (json.loads(line).get("recipientAccountId"), json.loads(line).get("recipientaccountid"))
    }
    assert {r["event_id"] for r in own} <= sample
    assert not {r["event_id"] for r in globex if r["attribution"] == "tenant"} & sample
    assert {r["tenant_id"] for r in globex} == {"globex"}
    # the app event delivered in globex's folder is in globex's bundle
    assert "app-1" in {r["event_id"] for r in globex}
    # Okta's April event was delivered in initech's folder
    assert [r["action"] for r in initech if r["service"] == "okta"]
    assert {r["tenant_id"] for r in initech} == {"initech"}


def test_the_bundles_verify(built):
    home, _ = built
    out = _cli(home, "verify", str(home / "exports"))
    assert out.returncode == 0, out.stdout


def test_deleting_a_tenant_removes_its_vendor_records_from_landing(built):
    """Run last on this home. A vendor's records do not name the tenant (an account id, a
    delivery folder): the deletion removes the lines its rows were loaded from, keeps the other
    tenants' lines byte for byte, and its certificate verifies."""
    home, _ = built
    trail = home / "landing" / "aws_cloudtrail" / "panther_cloudtrail_tests.jsonl"
    before = trail.read_text().splitlines()
    out = _cli(home, "delete-tenant", "acme", "--reason", "contract ended")
    assert out.returncode == 0, out.stdout + out.stderr
    after = trail.read_text().splitlines()

    def account(line: str) -> str | None:
        record = json.loads(line)
        return record.get("recipientAccountId") or record.get("recipientaccountid")

    # every line of acme's account that loaded (or was quarantined as acme's) is gone; the
    # lines of other accounts stay, unchanged but for the tenant's id redacted where they name
    # it ("Acme Inc" in another account's billing address)
    others_before = [line for line in before if account(line) != "123456789012"]
    others_after = [line for line in after if account(line) != "123456789012"]
    assert len(others_after) == len(others_before)
    changed = [(b, a) for b, a in zip(others_before, others_after, strict=True) if b != a]
    assert changed and all(re.search(r"(?i)\bacme\b", b) for b, _ in changed)
    assert len(after) < len(before)
    github = (home / "landing" / "github_audit" / "panther_github_audit.jsonl").read_text()
    assert '"org": "my-org"' not in github and '"org": "an-org"' in github
    kubernetes = (home / "landing" / "kubernetes_audit" / "panther_eks_audit.jsonl").read_text()
    assert '"namespace": "production"' not in kubernetes
    (certificate,) = list((home / "deletions").rglob("certificate.json"))
    doc = json.loads(certificate.read_text())
    assert doc["verified"] is True
    rewritten = {f["path"]: f for f in doc["landing"]["files_rewritten"]}
    assert rewritten["aws_cloudtrail/panther_cloudtrail_tests.jsonl"]["source"] == "aws_cloudtrail"
    verify = _cli(home, "verify", str(certificate))
    assert verify.returncode == 0, verify.stdout
    summary = _cli(home, "summary")
    assert "DOES NOT ADD UP" not in summary.stdout
