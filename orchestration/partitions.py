"""Bundles are partitioned by period (calendar month) and tenant (added from the registry)."""

from __future__ import annotations

import dagster as dg

TENANT_PARTITIONS = dg.DynamicPartitionsDefinition(name="tenants")
PERIOD_PARTITIONS = dg.MonthlyPartitionsDefinition(start_date="2024-01", fmt="%Y-%m", end_offset=0)
BUNDLE_PARTITIONS = dg.MultiPartitionsDefinition(
    {"period": PERIOD_PARTITIONS, "tenant": TENANT_PARTITIONS}
)


def split_keys(keys: list[str]) -> tuple[list[str], list[str]]:
    """Tenants and periods of a run's partition keys, which must form a full rectangle (a
    single key, or a range, as single-run backfills and schedules send)."""
    pairs = set()
    for key in keys:
        dims = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else None
        if dims is None:
            period, tenant = key.split("|")
            dims = {"period": period, "tenant": tenant}
        pairs.add((dims["tenant"], dims["period"]))
    tenants = sorted({t for t, _ in pairs})
    periods = sorted({p for _, p in pairs})
    if len(pairs) != len(tenants) * len(periods):
        raise dg.Failure(
            f"the run's {len(pairs)} partition(s) do not form tenants x periods; "
            "launch one run per period instead"
        )
    return tenants, periods
