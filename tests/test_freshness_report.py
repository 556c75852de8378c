"""Each bundle's freshness_report.html: that tenant's freshness and drift flags only, offline,
hashed in the manifest, and checked for other tenants' identifiers before anything is
published."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from exports.contract import FRESHNESS_REPORT as REPORT
from exports.verify import check_bundle
from tenantproof.core.home import Home
from tenantproof.core.settings import HOME_ENV
from tests.conftest import BuiltHome, bundle_dirs, names_another_tenant, settings_for


def report_of(folder: Path) -> str:
    return (folder / REPORT).read_text(encoding="utf-8")


def test_every_bundle_lists_its_report_in_the_manifest(built: BuiltHome) -> None:
    folders = bundle_dirs(built.home)
    assert folders
    for folder in folders:
        manifest = json.loads((folder / "manifest.json").read_text())
        entry = next(f for f in manifest["files"] if f["name"] == REPORT)
        assert entry["format"] == "html" and entry["bytes"] == (folder / REPORT).stat().st_size


def test_a_report_holds_only_its_tenants_data_and_loads_nothing(built: BuiltHome) -> None:
    for folder in bundle_dirs(built.home):
        tenant = folder.parts[-2]
        page = report_of(folder)
        assert f"({tenant})" in page
        assert names_another_tenant([page], tenant, built) == [], folder
        assert not re.search(r"<script|https?://|src=|href=|@import|url\(", page, re.I)
        assert "Content-Security-Policy" in page
        controls = built.query(
            "select control_id from marts.dim_tenant_controls where tenant_id = ?", [tenant]
        )
        for (control,) in controls:
            assert f"<td>{control}</td>" in page


def test_the_report_shows_the_stale_control_and_the_flags_affecting_the_tenant(
    built: BuiltHome,
) -> None:
    stale = built.query(
        "select tenant_id, control_id from marts.fct_evidence_freshness where status = 'stale'"
    )
    assert len(stale) == 1, "the generator plants one stale control"
    tenant, control = stale[0]
    folder = next(f for f in bundle_dirs(built.home) if f.parts[-2] == tenant)
    page = report_of(folder)
    row = page[page.index(f"<td>{control}</td>") :]
    assert 'class="badge stale"' in row[: row.index("</tr>")]
    for flag_tenant, folder in ((f.parts[-2], f) for f in bundle_dirs(built.home)):
        expected = built.query(
            "select subject from export.rpt_tenant_drift_flags where tenant_id = ?", [flag_tenant]
        )
        section = report_of(folder).split("<h2>Drift flags affecting this tenant</h2>")[1]
        for (subject,) in expected:
            assert f"<td>{subject}</td>" in section
        if expected:
            assert section.count("<tr>") == len(expected) + 1  # and the header
        else:
            assert "No open drift flags." in section


def test_a_global_flag_reaches_each_affected_tenant_without_the_others(built: BuiltHome) -> None:
    rows = built.query(
        "select subject, affected_tenants from marts.fct_drift_flags where tenant_id is null"
    )
    assert rows, "the generator's global incident was notified late for some tenants"
    subject, affected = rows[0]
    assert len(affected) > 1
    for folder in bundle_dirs(built.home):
        tenant = folder.parts[-2]
        page = report_of(folder)
        assert (subject in page) == (tenant in affected)


def test_a_report_naming_another_tenant_withholds_its_bundle(
    built: BuiltHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.runner import export

    home = Home(tmp_path / "home")
    shutil.copytree(built.home.root, home.root)
    monkeypatch.setenv(HOME_ENV, str(home.root))
    import pyarrow as pa

    from exports.scope import TenantScope

    other = built.identifiers["t10"]
    real = TenantScope.read
    before = sorted(p for p in home.exports.rglob("*") if p.is_file())
    log_before = home.isolation_log.read_text() if home.isolation_log.exists() else ""

    def leaky(self, name, *args, **kwargs):  # a page row that the scrub let through
        table = real(self, name, *args, **kwargs)
        if name != "freshness" or table.num_rows == 0:
            return table
        rows = table.to_pylist()
        rows[0]["last_evidence_status"] = f"see also {other}"
        return pa.Table.from_pylist(rows, schema=table.schema)

    monkeypatch.setattr(TenantScope, "read", leaky)
    with pytest.raises(SystemExit, match=r"withheld.*t1 2026-10.*foreign_mentions\) on freshness"):
        export(settings_for(home), ["2026-10"], ["t1"])
    assert sorted(p for p in home.exports.rglob("*") if p.is_file()) == before
    assert [p for p in home.staging.iterdir() if p.is_dir()] == []
    logged = home.isolation_log.read_text()[len(log_before) :].splitlines()
    # the bundle's owner and the tenant its page named
    assert [json.loads(x)["tenants"] for x in logged] == [["t1", "t10"]]


def test_the_contract_check_catches_a_tampered_report(built: BuiltHome, tmp_path: Path) -> None:
    folder = next(f for f in bundle_dirs(built.home) if f.parts[-2] == "t1")
    copy = tmp_path / folder.parts[-3] / folder.parts[-2] / folder.parts[-1]
    shutil.copytree(folder, copy)
    foreign = built.foreign_identifiers("t1")
    assert check_bundle(copy, foreign) == []
    page = report_of(copy).replace(
        "</body>", f'<script src="https://cdn.example/x.js"></script>{foreign[1]}</body>'
    )
    (copy / REPORT).write_text(page, encoding="utf-8")
    problems = check_bundle(copy, foreign)
    assert any(f"{REPORT}: sha256 does not match" in p for p in problems)
    assert any(f"{REPORT}: loads a script" in p for p in problems)
    assert any(f"{REPORT}: names another tenant" in p for p in problems)
    (copy / REPORT).unlink()
    assert any(f"{REPORT}: listed in the manifest but missing" in p for p in check_bundle(copy))
