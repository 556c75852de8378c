"""Assembles the definitions; each piece lives in the module of its concern."""

from __future__ import annotations

import dagster as dg

from orchestration.analytics import analytics_snapshot, drift_flags_sensor
from orchestration.cadences import export_schedule
from orchestration.dbt import warehouse_models
from orchestration.deletion import delete_tenant_job
from orchestration.exports import tenant_audit_bundles
from orchestration.ingest import ingest_assets
from orchestration.oplogs import operational_logs
from orchestration.resources import build_resources
from orchestration.retention import retention_purge, retention_purge_job, retention_purge_schedule
from orchestration.schedules import (
    tenant_audit_bundles_job,
    warehouse_job,
    warehouse_schedule,
)
from orchestration.sensors import tenant_partitions_sensor

defs = dg.Definitions(
    assets=[
        *ingest_assets,
        operational_logs,
        warehouse_models,
        tenant_audit_bundles,
        analytics_snapshot,
        retention_purge,
    ],
    jobs=[warehouse_job, tenant_audit_bundles_job, delete_tenant_job, retention_purge_job],
    # The export schedule's ticks and tenants come from the cadences in the policy matrix.
    schedules=[
        warehouse_schedule,
        export_schedule(tenant_audit_bundles_job),
        retention_purge_schedule,
    ],
    sensors=[tenant_partitions_sensor, drift_flags_sensor],
    resources=build_resources(),
)
