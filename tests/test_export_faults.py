"""Faults on the export path that are not leaks: a staged file the suites cannot read, a run
stopped midway. Either way the run fails, nothing is published and no staged file stays behind
(it may hold the rows that were refused)."""

from __future__ import annotations

import pytest

import exports.pipeline as pipeline
from orchestration.runner import export
from tests.conftest import settings_for
from tests.test_isolation import PERIOD, assert_refused, bundle_of, plant, snapshot


def test_a_staged_file_the_suites_cannot_read_fails_the_run(use_home, monkeypatch):
    def garble(bundles):
        path = bundle_of(bundles, "t2").files["audit_events.csv"]
        lines = path.read_text(encoding="utf-8").splitlines()
        lines[1] += ',"an extra cell"'  # one row wider than the header
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    plant(monkeypatch, garble)
    assert_refused(
        use_home,
        ["t2", "t3"],
        PERIOD,
        "tenant_isolation:staged_files_readable(*)",
    )


def test_a_run_stopped_during_encryption_leaves_nothing_staged_or_published(use_home, monkeypatch):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt  # what a stopped worker looks like to the code

    monkeypatch.setattr(pipeline, "_encrypt_all", stop)
    before = snapshot(use_home.home)
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        export(settings_for(use_home.home), [PERIOD], ["t2", "t3"])
    assert snapshot(use_home.home) == before
    assert [p for p in use_home.home.staging.iterdir() if p.is_dir()] == []


def test_a_region_root_configured_inside_another_publishes_nothing(use_home, monkeypatch):
    """The US root set, carelessly, inside the EU root where EU tenant t1's bundles go: the
    residency check before publishing stops the run, and no region gets a bundle."""
    monkeypatch.setenv("TENANTPROOF_EXPORT_ROOT_US", str(use_home.home.exports / "eu" / "t1"))
    before = snapshot(use_home.home)
    with pytest.raises(SystemExit, match="lies under region us's exports root"):
        export(settings_for(use_home.home), [PERIOD], ["t1", "t2"])
    assert snapshot(use_home.home) == before
    assert [p for p in use_home.home.staging.iterdir() if p.is_dir()] == []


@pytest.mark.parametrize(
    ("tenant", "period"), [("../us/t9", "2026-10"), ("t9", "../../us/t9/2026-10"), ("..", "x")]
)
def test_publish_refuses_a_tenant_or_period_that_is_not_one_plain_folder(tmp_path, tenant, period):
    from exports.bundle import StagedBundle
    from exports.publish import publish
    from exports.scope import CrossTenantAccess

    staged = tmp_path / "staging" / "b"
    staged.mkdir(parents=True)
    (staged / "manifest.json").write_text("{}")
    bundle = StagedBundle(tenant, "standard", "eu", "standard", period, staged)
    with pytest.raises(CrossTenantAccess, match="would leave its region's exports root"):
        roots = {r: (tmp_path / "exports" / r).resolve() for r in ("eu", "us")}
        publish(bundle, "run", roots)
    assert staged.exists() and not (tmp_path / "exports" / "us").exists()
