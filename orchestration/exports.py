"""The export asset: stage every requested bundle in one pass, validate the staged files with
Great Expectations (blocking checks), publish atomically. A bundle whose files fail a check is
withheld and the others are published; the failed check fails the run, naming the withheld
bundles."""

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
        except ValidationFailed as exc:
            failed, report = exc, exc.report
        except CrossTenantAccess as exc:  # the scope refused a read: say so, counts only
            raise dg.Failure(str(exc)) from exc
    result = report.validation
    for name, suite in CHECKS.items():
        # a bundle with nothing to judge (an empty month) passes: nothing in it is wrong
        outcomes = [o for o in result.outcomes if o.suite == suite]
        withheld = sorted(
            {b for o in outcomes if not o.success for b in (o.bundles or report.withheld)}
        )
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=ASSET_KEY,
            passed=all(o.success for o in outcomes),
            metadata={
                "expectations": len(outcomes),
                "failed": sum(not o.success for o in outcomes),
                "unexpected_rows": sum(o.unexpected_count for o in outcomes),
                "withheld_bundles": dg.MetadataValue.json([b.replace("|", " ") for b in withheld]),
            },
        )
    if failed is not None:
        raise dg.Failure(str(failed))
    yield dg.MaterializeResult(
        asset_key=ASSET_KEY,
        metadata={
            "bundles_published": len(report.published),
            "bundles_unchanged": len(report.unchanged),
            "tenants": len(tenants),
            "periods": dg.MetadataValue.text(", ".join(periods)),
            "rows_by_file_kind": dg.MetadataValue.json(report.rows_by_file_kind()),
            "phase_seconds": dg.MetadataValue.json(report.phase_seconds),
            "exports_root": dg.MetadataValue.path(str(home.exports)),
        },
    )
