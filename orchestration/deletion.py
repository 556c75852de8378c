"""The tenant deletion job: ``tenantproof.erasure.deletion`` run by Dagster, which also forgets the
tenant's partitions (the dynamic partition and the materialisation history of its bundles)."""

from typing import Any

import dagster as dg

from orchestration.exports import ASSET_KEY
from orchestration.partitions import TENANT_PARTITIONS
from orchestration.resources import TenantproofResource
from orchestration.schedules import tenant_audit_bundles_job
from tenantproof.erasure.deletion import DeletionIncomplete, UnknownTenant, delete_tenant


def _tenant_alone(tags: dict[str, str], tenant_id: str, order: list[str]) -> bool | None:
    """Whether a bundle run's partitions are this tenant's alone (True), include it among
    others (False) or do not include it (None); ``order`` is the tenant partitions' order,
    in which a run's range of tenants is read."""
    single = tags.get("dagster/partition")
    if single is not None:
        return True if single.split("|")[-1] == tenant_id else None
    start = tags.get("dagster/asset_partition_range_start", "").split("|")[-1]
    end = tags.get("dagster/asset_partition_range_end", "").split("|")[-1]
    if start == end == tenant_id:
        return True
    if tenant_id in (start, end):
        return False
    if start in order and end in order and tenant_id in order:
        inside = order.index(start) <= order.index(tenant_id) <= order.index(end)
        return False if inside else None
    return None


def forget_tenant_partitions(instance: dg.DagsterInstance, tenant_id: str) -> dict[str, Any]:
    """Delete the bundle runs that were this tenant's alone (with their event logs), wipe its
    bundle partitions' history where the storage can, then remove its tenant partition.

    Runs over a range of several tenants stay: they are the others' history too (counted in
    ``runs_kept_including_tenant``). Dagster's SQL event log cannot wipe single partitions: the
    deletion's next step (``tenantproof.erasure.sqlite_scrub``) deletes those runs' events of
    the tenant's partitions from the stores and redacts what else names it."""

    def history() -> list[str]:
        return sorted(
            k
            for k in instance.get_materialized_partitions(ASSET_KEY)
            if k.split("|")[-1] == tenant_id
        )

    deleted = kept = 0
    order = list(instance.get_dynamic_partitions(TENANT_PARTITIONS.name))
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=tenant_audit_bundles_job.name)):
        alone = _tenant_alone(run.tags, tenant_id, order)
        if alone:
            instance.delete_run(run.run_id)
            deleted += 1
        elif alone is False:
            kept += 1
    left = history()
    wiped = 0
    if left:
        try:
            instance.wipe_asset_partitions(ASSET_KEY, left)
            wiped = len(left)
        except NotImplementedError:
            wiped = 0
    present = instance.has_dynamic_partition(TENANT_PARTITIONS.name, tenant_id)
    if present:
        instance.delete_dynamic_partition(TENANT_PARTITIONS.name, tenant_id)
    kept_history = len(history()) if wiped else len(left)
    return {
        "partitions_def": TENANT_PARTITIONS.name,
        "removed": present,
        "runs_deleted": deleted,
        "runs_kept_including_tenant": kept,
        "bundle_partitions_with_history_kept": kept_history,
        "history_note": (
            "Dagster's API cannot wipe single partitions of runs over several tenants: their "
            "events of this tenant's partitions are deleted from the stores by the next step "
            "(dagster_storage)"
            if kept_history
            else "no bundle partition history of the tenant remains"
        ),
        "present_after": int(instance.has_dynamic_partition(TENANT_PARTITIONS.name, tenant_id)),
    }


class DeleteTenantConfig(dg.Config):
    """Which tenant, why, and who asked: all three go into the signed certificate."""

    tenant: str
    reason: str
    requested_by: str = "dagster"


@dg.op(
    name="delete_tenant",
    description="Delete one tenant everywhere, verify, and write its signed certificate.",
)
def delete_tenant_op(
    context: dg.OpExecutionContext, config: DeleteTenantConfig, tenantproof: TenantproofResource
) -> dg.Output[str]:
    try:
        result = delete_tenant(
            tenantproof.get_home(),
            config.tenant,
            config.reason,
            requested_by=config.requested_by,
            warehouse=tenantproof.warehouse,
            forget_partitions=lambda t: forget_tenant_partitions(context.instance, t),
            log=context.log.info,
            own_run=context.run_id,  # its config and logs name the tenant, as the certificate
        )
    except (UnknownTenant, DeletionIncomplete, ValueError) as exc:
        raise dg.Failure(str(exc)) from exc
    doc = result.document
    return dg.Output(
        str(result.certificate),
        metadata={
            "certificate": dg.MetadataValue.path(str(result.certificate)),
            "already_deleted": result.already_deleted,
            "rows_deleted": sum(t["rows_before"] for t in doc["tables"]),
            "bundles_removed": len(doc["bundles_removed"]),
            "checks": len(doc["verification"]),
        },
    )


@dg.job(description="Delete a tenant (spec §5.5): config tenant, reason, requested_by.")
def delete_tenant_job() -> None:
    delete_tenant_op()
