"""The export asset: stage every requested bundle in one pass, validate the staged files with
Great Expectations (blocking checks), publish atomically. A failed check fails the run and
leaves nothing published."""

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from exports.pipeline import ValidationFailed, export_bundles
from exports.scope import BUNDLE_RELATIONS, REGISTRY, REPORT_RELATIONS, CrossTenantAccess
from orchestration.dbt import warehouse_models
from orchestration.partitions import BUNDLE_PARTITIONS, split_keys
from orchestration.resources import TenantproofResource

ASSET_KEY = dg.AssetKey("tenant_audit_bundles")
CHECKS = {
    "no_foreign_tenant_rows": "tenant_isolation",
    "pii_redacted": "pii_redaction",
    "row_counts_match_marts": "row_counts",
}


@dg.asset(
    key=ASSET_KEY,
    group_name="exports",
    partitions_def=BUNDLE_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        get_asset_key_for_model([warehouse_models], rel.model.split(".")[-1])
        for rel in (*BUNDLE_RELATIONS, REGISTRY, *REPORT_RELATIONS)
    ],
    check_specs=[
        dg.AssetCheckSpec(name, asset=ASSET_KEY, blocking=True, description=f"GE suite {suite}")
        for name, suite in CHECKS.items()
    ],
    description="Per-tenant audit bundles (Parquet + CSV + manifest.json + validation.json) "
    "under <home>/exports/<region>/<tenant>/<period>/, published only after validation.",
)
def tenant_audit_bundles(context: dg.AssetExecutionContext, tenantproof: TenantproofResource):
    tenants, periods = split_keys(list(context.partition_keys))
    home = tenantproof.get_home()
    failed = None
    with tenantproof.warehouse() as con:
        try:
            report = export_bundles(
                con,
                home,
                tenants,
                periods,
                tenantproof.policy(),
                run_id=context.run.run_id,
                log=context.log.info,
            )
            result = report.validation
        except ValidationFailed as exc:
            failed, result = exc, exc.result
        except CrossTenantAccess as exc:  # the scope refused a read: say so, counts only
            raise dg.Failure(str(exc)) from exc
    for name, suite in CHECKS.items():
        outcomes = [o for o in result.outcomes if o.suite == suite]
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=ASSET_KEY,
            passed=bool(outcomes) and all(o.success for o in outcomes),
            metadata={
                "expectations": len(outcomes),
                "failed": sum(not o.success for o in outcomes),
                "unexpected_rows": sum(o.unexpected_count for o in outcomes),
            },
        )
    if failed is not None:
        raise dg.Failure(str(failed))
    yield dg.MaterializeResult(
        asset_key=ASSET_KEY,
        metadata={
            "bundles_published": len(report.published),
            "tenants": len(tenants),
            "periods": dg.MetadataValue.text(", ".join(periods)),
            "rows_by_file_kind": dg.MetadataValue.json(report.rows_by_file_kind()),
            "phase_seconds": dg.MetadataValue.json(report.phase_seconds),
            "exports_root": dg.MetadataValue.path(str(home.exports)),
        },
    )
