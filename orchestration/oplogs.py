"""The export's own records, mirrored into raw tables for the drift and maturity marts: the
isolation incidents it logged and the bundles it published. Their keys are the dbt source names
(raw/<table>), so they sit in the ingest group and every warehouse build refreshes them.

They read what the export wrote but do not depend on the export asset: the export reads marts
built from them, and lineage must not loop."""

import dagster as dg

from orchestration.resources import TenantproofResource
from tenantproof.core.oplogs import load_operational_logs

GROUP = "ingest"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", "isolation_incidents"],
            group_name=GROUP,
            description="Tenant isolation incidents the export logged "
            "(<home>/logs/isolation_incidents.jsonl), one row per tenant involved.",
        ),
        dg.AssetSpec(
            ["raw", "published_bundles"],
            group_name=GROUP,
            description="Every published bundle, read from its manifest.json.",
        ),
    ],
)
def operational_logs(context: dg.AssetExecutionContext, tenantproof: TenantproofResource):
    home = tenantproof.get_home()
    with tenantproof.warehouse() as con:
        counts = load_operational_logs(con, home.isolation_log, home.exports)
    context.log.info(
        f"isolation incident rows {counts['isolation_incident_rows']}, "
        f"published bundles {counts['published_bundles']}"
    )
    yield dg.MaterializeResult(
        asset_key=["raw", "isolation_incidents"],
        metadata={
            "rows": counts["isolation_incident_rows"],
            "unreadable_lines": counts["isolation_log_unreadable_lines"],
        },
    )
    yield dg.MaterializeResult(
        asset_key=["raw", "published_bundles"], metadata={"rows": counts["published_bundles"]}
    )
