"""The benchmark harness runs end to end on tiny data (figures are measured by `make bench`,
never asserted here)."""

from __future__ import annotations

import json

from tenantproof.bench import benchmark as bench
from tenantproof.core.settings import HOME_ENV, MEMORY_ENV


def test_the_harness_measures_every_stage_and_writes_results(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "unused"))
    monkeypatch.setenv(MEMORY_ENV, "2GB")
    monkeypatch.setattr(bench, "RESULTS_DIR", tmp_path / "results")
    result = bench.run(2_000, 4, tmp_path / "bench-home", memory_limit="2GB")
    stages = {s["name"]: s for s in result["stages"]}
    assert list(stages) == [
        "floor",
        "full_pipeline",
        "single_tenant_export",
        "incremental",
        "mapped_ingest",
    ]
    assert stages["floor"]["detail"]["rows"] == 2_000
    full = stages["full_pipeline"]["detail"]
    assert full["bundles"] == 4 * len(full["periods"]) > 0
    assert {"warehouse_models", "tenant_audit_bundles"} <= set(full["steps"])
    phases = full["export_phases"]
    assert set(phases) == {
        "stage",
        "freshness_reports",
        "validate",
        "encrypt",
        "manifest_and_signing",
        "publish",
    }
    assert sum(phases.values()) <= full["steps"]["tenant_audit_bundles"]
    incremental = stages["incremental"]["detail"]
    assert incremental["new_events"] == 20
    assert 1 <= incremental["bundles_reexported"] <= 3
    # the same events as CloudTrail records, loaded through the shipped aws_cloudtrail mapping
    mapped = stages["mapped_ingest"]
    assert mapped["rows"] == 2_000 and mapped["detail"]["rows_written"] == 2_000
    m = mapped["detail"]
    assert m["mapping"] == "aws_cloudtrail" and m["registry_loaded"] == 4
    assert m["read"] == m["loaded"] + m["quarantined"] and m["balanced"]
    assert m["loaded"] == m["rows_written"] and m["quarantined"] == 0
    assert m["quarantine_reasons"] == {}
    assert m["plain_read_json"]["rows"] == m["rows_written"]
    assert not (tmp_path / "bench-home" / "mapped").exists()  # its scratch folder is removed
    assert set(result["ratios"]) == {
        "pipeline_vs_floor",
        "single_tenant_vs_full",
        "incremental_vs_full",
        "mapped_vs_read_json",
    }
    assert all(v > 0 for v in result["ratios"].values())
    assert all(s["peak_rss_mb"] > 0 for s in result["stages"])
    text = bench.report(result)
    assert "pipeline_vs_floor" in text and "full pipeline steps" in text
    assert "export phases: " in text and "manifest_and_signing" in text
    assert "mapped ingest (aws_cloudtrail): " in text and "plain read_json: " in text
    assert "mapped ingest rows: 2,000 written, 2,000 read, 2,000 loaded, 0 quarantined" in text
    saved = bench.save(result)
    saved_result = json.loads(saved.read_text())
    assert saved_result["ratios"] == result["ratios"]
    saved_stages = {s["name"]: s for s in saved_result["stages"]}
    assert saved_stages["mapped_ingest"]["detail"]["loaded"] == 2_000
