"""The tenant deletion job: ``tenantproof.deletion`` run by Dagster, which also forgets the
tenant's partitions (the dynamic partition and the materialisation history of its bundles)."""

from typing import Any

import dagster as dg

from orchestration.exports import ASSET_KEY
from orchestration.partitions import TENANT_PARTITIONS
from orchestration.resources import TenantproofResource
from tenantproof.deletion import DeletionIncomplete, UnknownTenant, delete_tenant


def forget_tenant_partitions(instance: dg.DagsterInstance, tenant_id: str) -> dict[str, Any]:
    """Wipe the tenant's bundle partitions' history, then remove its tenant partition."""
    bundle_keys = sorted(
        k for k in instance.get_materialized_partitions(ASSET_KEY) if k.split("|")[-1] == tenant_id
    )
    wiped = 0
    if bundle_keys:
        try:
            instance.wipe_asset_partitions(ASSET_KEY, bundle_keys)
            wiped = len(bundle_keys)
        except NotImplementedError:
            wiped = 0  # some storages cannot wipe single partitions; the certificate says so
    present = instance.has_dynamic_partition(TENANT_PARTITIONS.name, tenant_id)
    if present:
        instance.delete_dynamic_partition(TENANT_PARTITIONS.name, tenant_id)
    return {
        "partitions_def": TENANT_PARTITIONS.name,
        "removed": present,
        "bundle_partitions_materialized": len(bundle_keys),
        "bundle_partitions_wiped": wiped,
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
