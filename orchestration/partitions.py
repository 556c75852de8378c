"""Bundles are partitioned by period (calendar month) and tenant (added from the registry)."""

from __future__ import annotations

from collections.abc import Sequence

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


def contiguous_blocks(order: Sequence[str], chosen: Sequence[str]) -> list[tuple[str, str]]:
    """The chosen tenants as runs of neighbours in partition order: a range over a
    multi-partition is a rectangle, so each block is one run (one scan, one validation)."""
    positions = sorted(order.index(t) for t in chosen)
    blocks: list[list[int]] = []
    for pos in positions:
        if blocks and pos == blocks[-1][-1] + 1:
            blocks[-1].append(pos)
        else:
            blocks.append([pos])
    return [(order[b[0]], order[b[-1]]) for b in blocks]


def bundle_key(period: str, tenant: str) -> str:
    """The string form of one bundle partition key: ``period|tenant``."""
    return f"{period}|{tenant}"


def range_tags(first: tuple[str, str], last: tuple[str, str]) -> dict[str, str]:
    """The run tags of a single run over the rectangle of bundle partitions between two
    (period, tenant) corners."""
    return {
        "dagster/asset_partition_range_start": bundle_key(*first),
        "dagster/asset_partition_range_end": bundle_key(*last),
    }
