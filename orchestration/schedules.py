"""Jobs and schedules: the warehouse build daily; every tenant's last complete period in one
export run on the first of each month."""

from datetime import date

import dagster as dg

from orchestration.exports import tenant_audit_bundles
from orchestration.partitions import BUNDLE_PARTITIONS, TENANT_PARTITIONS
from tenantproof.periods import last_complete_period

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


def last_period_run_request(instance: dg.DagsterInstance, today: date) -> dg.RunRequest | None:
    """One run over every tenant's last complete period: a partition range, not N runs."""
    tenants = instance.get_dynamic_partitions(TENANT_PARTITIONS.name)
    if not tenants:
        return None
    period = last_complete_period(today)
    return dg.RunRequest(
        run_key=f"bundles-{period}",
        tags={
            "dagster/asset_partition_range_start": f"{period}|{tenants[0]}",
            "dagster/asset_partition_range_end": f"{period}|{tenants[-1]}",
        },
    )


@dg.schedule(job=tenant_audit_bundles_job, cron_schedule="0 6 1 * *")
def tenant_audit_bundles_schedule(context: dg.ScheduleEvaluationContext):
    request = last_period_run_request(context.instance, context.scheduled_execution_time.date())
    return request or dg.SkipReason("no tenant partitions yet")
