"""Jobs and the warehouse schedule (daily). The export schedule follows the policy matrix's
cadences (orchestration.cadences)."""

import dagster as dg

from orchestration.exports import tenant_audit_bundles
from orchestration.partitions import BUNDLE_PARTITIONS

warehouse_job = dg.define_asset_job(
    "warehouse_job",
    selection=dg.AssetSelection.groups(
        "ingest", "policy", "staging", "intermediate", "marts", "export", "analytics"
    ),
    description="Ingest every new landing file, build the dbt project and publish the "
    "analytics snapshot.",
)
tenant_audit_bundles_job = dg.define_asset_job(
    "tenant_audit_bundles_job",
    selection=dg.AssetSelection.assets(tenant_audit_bundles),
    partitions_def=BUNDLE_PARTITIONS,
)

warehouse_schedule = dg.ScheduleDefinition(
    name="warehouse_schedule", job=warehouse_job, cron_schedule="0 2 * * *"
)
