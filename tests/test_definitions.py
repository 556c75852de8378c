"""The Dagster definitions load and form one lineage graph from raw sources to bundles."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.definitions import defs


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


def test_the_schedule_exports_every_tenant_in_one_run_on_the_first_and_weekly_classes_on_mondays(
    tmp_path: Path, monkeypatch
) -> None:
    from orchestration.resources import TenantproofResource
    from tenantproof.core.home import Home
    from tenantproof.core.settings import HOME_ENV

    home = Home(tmp_path / "home").ensure()
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "elsewhere"))  # a configured home wins
    home.registry.parent.mkdir(parents=True, exist_ok=True)
    classes = {"t1": "standard", "t2": "regulated", "t10": "enterprise", "t11": "regulated"}
    pq.write_table(
        pa.table({"tenant_id": list(classes), "tenant_class": list(classes.values())}),
        home.registry,
    )
    schedule = defs.resolve_schedule_def("tenant_audit_bundles_schedule")
    assert sorted(schedule.cron_schedule) == ["0 6 1 * *", "0 6 1 * 1"]  # from the cadences

    def runs(at: datetime) -> list[tuple[str, str]]:
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=at,
            resources={"tenantproof": TenantproofResource(home=str(home.root))},
        ) as context:
            data = schedule.evaluate_tick(context)
        return [
            (
                r.tags["dagster/asset_partition_range_start"],
                r.tags["dagster/asset_partition_range_end"],
            )
            for r in data.run_requests or []
        ]

    with dg.instance_for_test() as instance:
        assert runs(datetime(2026, 11, 1, 6)) == [], "no tenant partitions yet"
        instance.add_dynamic_partitions("tenants", list(classes))
        # the 1st: every cadence is due, every tenant's last complete period in one run
        assert runs(datetime(2026, 11, 1, 6)) == [("2026-10|t1", "2026-10|t11")]
        # a Monday: only the weekly class (regulated), one run per block of neighbours
        assert runs(datetime(2026, 11, 9, 6)) == [
            ("2026-10|t2", "2026-10|t2"),
            ("2026-10|t11", "2026-10|t11"),
        ]
    assert defs.resolve_sensor_def("tenant_partitions_sensor") is not None


def test_cron_matching_follows_cron() -> None:
    from orchestration.cadences import cron_matches

    monday, first, other = (
        datetime(2026, 11, 9, 6),
        datetime(2026, 12, 1, 6),
        datetime(2026, 11, 10, 6),
    )
    assert [cron_matches("0 6 1 * *", t) for t in (monday, first, other)] == [False, True, False]
    assert [cron_matches("0 6 1 * 1", t) for t in (monday, first, other)] == [True, True, False]
    assert not cron_matches("0 6 1 * 1", datetime(2026, 11, 9, 7))
    assert (
        cron_matches("0 6 * * 0", datetime(2026, 11, 8, 6))
        == cron_matches("0 6 * * 7", datetime(2026, 11, 8, 6))
        is True
    )  # Sunday is 0 or 7


def test_the_analytics_snapshot_reads_the_drift_marts_and_checks_each_kind() -> None:
    from tenantproof.analytics.snapshot import drift_kinds

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


def test_built_tables_materialize_with_their_rows_and_tenants(built) -> None:
    from tenantproof.core.warehouse import connect

    con = connect(built.home.warehouse, read_only=True)
    try:
        rows, tenants = con.execute(
            "select count(*), count(distinct tenant_id) from marts.fct_audit_events"
        ).fetchone()
    finally:
        con.close()
    with dg.DagsterInstance.from_config(str(built.home.dagster_home)) as instance:
        event = instance.get_latest_materialization_event(
            dg.AssetKey(["marts", "fct_audit_events"])
        )
        view = instance.get_latest_materialization_event(
            dg.AssetKey(["export", "rpt_tenant_audit_events"])
        )
    meta = event.asset_materialization.metadata
    assert meta["dagster/row_count"].value == rows > 0
    assert meta["tenants"].value == tenants == len(built.identifiers)
    assert view is not None and "dagster/row_count" not in view.asset_materialization.metadata


def test_the_partitions_sensor_adds_each_registered_tenant_once(
    tmp_path: Path, monkeypatch
) -> None:
    from orchestration.resources import TenantproofResource
    from orchestration.sensors import tenant_partitions_sensor
    from tenantproof.core.home import Home
    from tenantproof.core.settings import HOME_ENV

    home = Home(tmp_path / "home").ensure()
    monkeypatch.setenv(HOME_ENV, str(home.root))
    resources = {"tenantproof": TenantproofResource()}  # the home from the variable
    with dg.instance_for_test() as instance:
        skipped = tenant_partitions_sensor(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        assert isinstance(skipped, dg.SkipReason), "no registry published yet"
        home.registry.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"tenant_id": ["t2", "t1", "t10"]}), home.registry)
        result = tenant_partitions_sensor(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        (request,) = result.dynamic_partitions_requests
        assert (request.partitions_def_name, list(request.partition_keys)) == (
            "tenants",
            ["t1", "t10", "t2"],
        )
        instance.add_dynamic_partitions("tenants", list(request.partition_keys))
        again = tenant_partitions_sensor(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        assert isinstance(again, dg.SkipReason)
