"""The command line's own checks: the periods it is asked to export, and the key file it hands
one tenant's auditor."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime

import pytest

from exports import contract, verify
from exports.encryption import auditor_key_file
from orchestration.runner import period_blocks
from tests.conftest import BuiltHome, bundle_dirs

THIS_MONTH = datetime.now(UTC).strftime("%Y-%m")


def test_asked_periods_export_as_runs_of_consecutive_months() -> None:
    assert period_blocks(["2026-10", "2026-08", "2026-09"]) == [("2026-08", "2026-10")]
    # a gap is never filled: 2026-09 is not exported when 2026-08 and 2026-10 are asked
    assert period_blocks(["2026-08", "2026-10"]) == [("2026-08", "2026-08"), ("2026-10", "2026-10")]
    assert period_blocks(["2025-12", "2026-01"]) == [("2025-12", "2026-01")]


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("2026-13", "'2026-13' is not a month of the form YYYY-MM"),
        ("26-01", "'26-01' is not a month of the form YYYY-MM"),
        ("1999-01", "1999-01 is outside the bundle periods 2024-01.."),
        ("2999-01", "2999-01 is outside the bundle periods"),
        (THIS_MONTH, f"{THIS_MONTH} is outside the bundle periods"),  # not complete yet
    ],
)
def test_a_period_that_is_not_a_bundle_month_is_refused_named(period: str, message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        period_blocks(["2026-10", period])


def test_an_auditor_key_file_holds_one_tenants_key_and_opens_only_its_bundles(
    built: BuiltHome, tmp_path
) -> None:
    home = built.home
    manifests = {d: json.loads((d / contract.MANIFEST).read_text()) for d in bundle_dirs(home)}
    encrypted = sorted(
        {m["tenant_id"] for m in manifests.values() if any(f.get("encrypted") for f in m["files"])}
    )
    plain = sorted({m["tenant_id"] for m in manifests.values()} - set(encrypted))
    assert encrypted and plain
    tenant, other = encrypted[0], encrypted[1]
    out = auditor_key_file(home, tenant, tmp_path / "keys.json")
    keys = verify.load_tenant_keys(out)
    assert list(keys) == [tenant]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    public = (home.exports / contract.PUBLIC_KEY).read_bytes()
    mine = next(d for d, m in manifests.items() if m["tenant_id"] == tenant)
    report = verify.verify_bundle(mine, public, keys=keys)
    assert report.ok, report.problems
    assert any("decrypted with the tenant key" in c for c in report.checked)
    theirs = next(d for d, m in manifests.items() if m["tenant_id"] == other)
    report = verify.verify_bundle(theirs, public, keys=keys)
    assert any("content not checked" in n for n in report.notes), "another tenant's stays shut"
    with pytest.raises(SystemExit, match="exists: not overwritten"):
        auditor_key_file(home, tenant, out)
    with pytest.raises(SystemExit, match=f"tenant {plain[0]} has no encryption key"):
        auditor_key_file(home, plain[0], tmp_path / "plain.json")
