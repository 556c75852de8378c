"""Tenant partitions follow the registry: the sensor reads its published Parquet copy, never the
warehouse file (one writer per file)."""

import dagster as dg
import pyarrow.parquet as pq

from orchestration.partitions import TENANT_PARTITIONS
from orchestration.resources import TenantproofResource
from tenantproof.core.home import Home


def registered_tenants(home: Home) -> list[str]:
    if not home.registry.exists():
        return []
    return sorted(pq.read_table(home.registry, columns=["tenant_id"]).column(0).to_pylist())


def sync_tenant_partitions(instance: dg.DagsterInstance, home: Home) -> list[str]:
    """Add registry tenants that are not partitions yet; return them."""
    existing = set(instance.get_dynamic_partitions(TENANT_PARTITIONS.name))
    new = [t for t in registered_tenants(home) if t not in existing]
    if new:
        instance.add_dynamic_partitions(TENANT_PARTITIONS.name, new)
    return new


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def tenant_partitions_sensor(context: dg.SensorEvaluationContext, tenantproof: TenantproofResource):
    """Adds a tenant partition for every tenant in the registry."""
    home = tenantproof.settings().home
    existing = set(context.instance.get_dynamic_partitions(TENANT_PARTITIONS.name))
    new = [t for t in registered_tenants(home) if t not in existing]
    if not new:
        return dg.SkipReason("every registered tenant has a partition")
    return dg.SensorResult(dynamic_partitions_requests=[TENANT_PARTITIONS.build_add_request(new)])
