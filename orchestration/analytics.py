"""The analytics snapshot and drift alerting (spec §5.3: alerting must identify tenant impact).

The snapshot asset publishes the freshness, drift and maturity marts as Parquet under
``<home>/analytics/``; its checks, one per drift kind (seeds/drift_kinds.csv), report the open
and new flags with the ids of the tenants they affect (ids and counts: no personal data). The
sensor reads the published Parquet, never the warehouse file (one writer per file), and hands
flags first seen since its cursor to the drift notifier resource.
"""

from datetime import datetime

import dagster as dg
import pyarrow.parquet as pq
from dagster_dbt import get_asset_key_for_model

from orchestration.dbt import warehouse_models
from orchestration.resources import DriftNotifierResource, TenantproofResource
from tenantproof.analytics.notify import new_notices
from tenantproof.analytics.snapshot import (
    drift_kinds,
    kind_outcomes,
    previous_flag_ids,
    publish_snapshot,
    read_meta,
    snapshot_models,
    snapshot_path,
)
from tenantproof.core.warehouse import connect

ASSET_KEY = dg.AssetKey("analytics_snapshot")
KINDS = drift_kinds()
SEVERITY = {"critical": dg.AssetCheckSeverity.ERROR, "high": dg.AssetCheckSeverity.ERROR}
MAX_IDS = 100  # tenant ids listed in one check's metadata; the count is always complete


def _ids(tenants: list[str]) -> dg.MetadataValue:
    return dg.MetadataValue.json(tenants[:MAX_IDS])


@dg.asset(
    key=ASSET_KEY,
    group_name="analytics",
    deps=[get_asset_key_for_model([warehouse_models], model) for model in snapshot_models()],
    check_specs=[
        dg.AssetCheckSpec(k.check_name, asset=ASSET_KEY, description=k.description) for k in KINDS
    ],
    description="Evidence freshness (with history), drift flags, incident notifications and "
    "maturity levels as Parquet under <home>/analytics/, for the dashboard and the drift sensor.",
)
def analytics_snapshot(context: dg.AssetExecutionContext, tenantproof: TenantproofResource):
    home = tenantproof.get_home()
    previous = previous_flag_ids(home.analytics)
    con = connect(home.warehouse, read_only=True)
    try:
        meta = publish_snapshot(con, home.analytics)
    finally:
        con.close()
    flags = pq.read_table(snapshot_path(home.analytics, "drift_flags"))
    yield dg.MaterializeResult(
        asset_key=ASSET_KEY,
        metadata={
            "as_of": meta["as_of"],
            "rows": dg.MetadataValue.json(meta["rows"]),
            "path": dg.MetadataValue.path(str(home.analytics)),
        },
    )
    for outcome in kind_outcomes(flags, previous, KINDS):
        yield dg.AssetCheckResult(
            check_name=outcome.kind.check_name,
            asset_key=ASSET_KEY,
            passed=outcome.passed,
            severity=SEVERITY.get(outcome.kind.severity, dg.AssetCheckSeverity.WARN),
            description=f"{outcome.open_flags} open {outcome.kind.kind} flag(s), "
            f"{outcome.new_flags} new",
            metadata={
                "open_flags": outcome.open_flags,
                "new_flags": outcome.new_flags,
                "impacted_tenant_count": len(outcome.impacted_tenants),
                "impacted_tenants": _ids(outcome.impacted_tenants),
                "new_flag_tenants": _ids(outcome.new_impacted_tenants),
            },
        )


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def drift_flags_sensor(
    context: dg.SensorEvaluationContext,
    tenantproof: TenantproofResource,
    drift_notifier: DriftNotifierResource,
):
    """Hands flags first published since the last snapshot it saw to the notifier."""
    analytics = tenantproof.get_home().analytics
    meta = read_meta(analytics)
    if meta is None:
        return dg.SkipReason("no analytics snapshot published yet")
    if meta["generated_at"] == context.cursor:
        return dg.SkipReason("no new analytics snapshot")
    since = datetime.fromisoformat(context.cursor) if context.cursor else None
    until = datetime.fromisoformat(meta["generated_at"])
    notices = new_notices(pq.read_table(snapshot_path(analytics, "drift_flags")), since, until)
    if notices:
        drift_notifier.notifier(context.log.info).notify(notices)
    context.update_cursor(meta["generated_at"])
    return dg.SkipReason(f"{len(notices)} new drift flag(s) sent to the notifier")
