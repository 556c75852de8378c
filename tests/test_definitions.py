"""The Dagster definitions load and form one lineage graph from raw sources to bundles."""

from __future__ import annotations

from datetime import date

import dagster as dg

from orchestration.definitions import defs
from orchestration.schedules import last_period_run_request


def test_one_graph_from_raw_sources_to_bundles() -> None:
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for source in ("tenants", "audit_events", "access_history", "evidence_events"):
        assert f"raw/{source}" in keys
    bundles = graph.get(dg.AssetKey("tenant_audit_bundles"))
    parents = {k.to_user_string() for k in bundles.parent_keys}
    assert parents == {
        "export/rpt_tenant_audit_events",
        "export/rpt_tenant_access_history",
        "export/rpt_tenant_evidence",
        "export/rpt_tenant_controls",
        "export/rpt_tenant_shared_service_evidence",
        "export/rpt_tenant_registry",
        "export/rpt_tenant_freshness",  # for each bundle's freshness_report.html
        "export/rpt_tenant_drift_flags",
    }
    # dbt sources are the ingest assets themselves: staging reads raw/<table>.
    stg = graph.get(dg.AssetKey(["staging", "stg_raw__audit_events"]))
    assert dg.AssetKey(["raw", "audit_events"]) in stg.parent_keys
    assert graph.get(dg.AssetKey(["raw", "audit_events"])).group_name == "ingest"
    assert bundles.group_name == "exports"


def test_checks_are_attached() -> None:
    checks = {
        (k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys
    }
    for name in ("no_foreign_tenant_rows", "pii_redacted", "row_counts_match_marts"):
        assert ("tenant_audit_bundles", name) in checks
    assert any(a.startswith("marts/") for a, _ in checks), "dbt tests become asset checks"


def test_schedule_exports_every_tenant_last_period_in_one_run() -> None:
    with dg.instance_for_test() as instance:
        assert last_period_run_request(instance, date(2026, 11, 1)) is None
        instance.add_dynamic_partitions("tenants", ["t1", "t2", "t10"])
        request = last_period_run_request(instance, date(2026, 11, 1))
    assert request.tags["dagster/asset_partition_range_start"] == "2026-10|t1"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-10|t10"
    # one export schedule per cadence in the policy matrix (tests/test_policy_matrix.py)
    assert defs.resolve_schedule_def("tenant_audit_bundles_monthly_schedule") is not None
    assert defs.resolve_sensor_def("tenant_partitions_sensor") is not None


def test_the_analytics_snapshot_reads_the_drift_marts_and_checks_each_kind() -> None:
    from tenantproof.analytics import drift_kinds

    graph = defs.resolve_asset_graph()
    snapshot = graph.get(dg.AssetKey("analytics_snapshot"))
    assert {k.to_user_string() for k in snapshot.parent_keys} == {
        "marts/fct_evidence_freshness",
        "marts/fct_evidence_freshness_history",
        "marts/fct_drift_flags",
        "marts/dim_tenant_maturity",
        "marts/fct_incident_notifications",
        "marts/dim_tenants",
    }
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == snapshot.key}
    assert checks == {k.check_name for k in drift_kinds()}
    for source in ("incidents", "isolation_incidents", "published_bundles"):
        assert graph.get(dg.AssetKey(["raw", source])).group_name == "ingest"
    warehouse = defs.resolve_job_def("warehouse_job")
    assert dg.AssetKey("analytics_snapshot") in warehouse.asset_layer.selected_asset_keys
    assert defs.resolve_sensor_def("drift_flags_sensor") is not None
