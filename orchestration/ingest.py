"""Ingest assets: landing files -> raw tables. Their keys are the dbt source names (raw/<table>),
so the lineage from landing to bundles is one graph.

``ingest_source`` counts each file's rows read, loaded and quarantined apart and refuses a load
whose counts do not add up (CountMismatch), so the counts reported here add up per file."""

import dagster as dg

from orchestration.resources import TenantproofResource
from tenantproof.core.keys import HASH_KEYS, LocalKeyStore
from tenantproof.core.sources import EVENT_SOURCES, TENANTS, Source
from tenantproof.ingest.load import IngestReport, ingest_source, quarantine_counts
from tenantproof.ingest.registry import publish_registry, sync_hash_keys, sync_identifiers

GROUP = "ingest"


def _metadata(report: IngestReport, quarantined: dict[str, int]) -> dict[str, dg.MetadataValue]:
    meta: dict[str, dg.MetadataValue] = {
        k: dg.MetadataValue.int(v) for k, v in report.metadata().items()
    }
    meta["quarantine_by_reason"] = dg.MetadataValue.json(quarantined)
    if report.ignored:
        meta["ignored_files"] = dg.MetadataValue.json(report.ignored)
    unexpected = report.unexpected_fields()
    if unexpected:
        meta["unexpected_fields"] = dg.MetadataValue.json(unexpected)
    return meta


def _warn(context: dg.AssetExecutionContext, report: IngestReport) -> None:
    """Fields a file carries that its source does not declare are not loaded: say so."""
    for warning in report.warnings():
        context.log.warning(warning)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", "tenants"],
            group_name=GROUP,
            description="The tenant registry (landing/tenants). Published as Parquet for "
            "readers that must not open the warehouse, such as the partition sensor.",
        ),
        dg.AssetSpec(
            ["raw", "tenant_hash_keys"],
            group_name=GROUP,
            description="Per-tenant keys for keyed hashing, in the local key store "
            "(keys/tenant_hash_keys.json, 0600), which dbt reads in place: never copied into "
            "the warehouse.",
        ),
    ],
)
def tenant_registry(context: dg.AssetExecutionContext, tenantproof: TenantproofResource):
    home = tenantproof.get_home()
    with tenantproof.warehouse() as con:
        report = ingest_source(con, home.landing, TENANTS, tenantproof.policy())
        keys = sync_hash_keys(con, LocalKeyStore(home.keys / HASH_KEYS))
        sync_identifiers(con)
        publish_registry(con, home.registry)
        registered = con.execute("select count(*) from raw.tenants").fetchone()[0]
        quarantined = quarantine_counts(con, TENANTS.name)
    _warn(context, report)
    meta = _metadata(report, quarantined)
    meta["tenants_registered"] = dg.MetadataValue.int(registered)
    yield dg.MaterializeResult(asset_key=["raw", "tenants"], metadata=meta)
    yield dg.MaterializeResult(
        asset_key=["raw", "tenant_hash_keys"], metadata={"keys": dg.MetadataValue.int(keys)}
    )


def _ingest_asset(source: Source) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", source.name],
        group_name=GROUP,
        deps=[dg.AssetKey(["raw", "tenants"])],
        description=f"landing/{source.name}/ ({source.format}) loaded into raw.{source.name}; "
        "rows that fail attribution or typing go to raw.quarantine with file, line and reason.",
    )
    def _asset(context: dg.AssetExecutionContext, tenantproof: TenantproofResource):
        home = tenantproof.get_home()
        with tenantproof.warehouse() as con:
            report = ingest_source(con, home.landing, source, tenantproof.policy())
            quarantined = quarantine_counts(con, source.name)
        _warn(context, report)
        context.log.info(
            f"{source.name}: read {report.read}, loaded {report.loaded}, "
            f"quarantined {report.quarantined} from {len(report.files)} file(s)"
        )
        return dg.MaterializeResult(metadata=_metadata(report, quarantined))

    return _asset


ingest_assets = [tenant_registry, *(_ingest_asset(s) for s in EVENT_SOURCES)]
