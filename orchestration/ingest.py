"""Ingest assets: landing files -> raw tables, one asset per source mapping (docs/SOURCES.md).

The graph has, per source mapping (``sources/*.yml`` and ``<home>/sources/*.yml``, read when the
definitions load), an asset ``sources/<name>`` that loads its files, with read / loaded /
quarantined in its metadata; and per canonical entity an asset ``raw/<entity>`` (the dbt source
of that name) downstream of its mappings. Adding a mapping file adds its asset when the
definitions are next loaded, with no code change. A run reads the mappings of its own home: a
mapping the loaded graph does not have yet is ingested by its entity's asset, and named.

``ingest_source`` counts each file's rows read, loaded and quarantined apart and refuses a load
whose counts do not add up (CountMismatch), so the counts reported here add up per file."""

import dagster as dg

from orchestration.resources import TenantproofResource
from tenantproof.core.keys import HASH_KEYS, LocalKeyStore
from tenantproof.core.settings import Settings
from tenantproof.core.sources import SOURCES, TENANT_SOURCE_ACCOUNTS, TENANTS, Source
from tenantproof.ingest.load import IngestReport, ingest_source, quarantine_counts
from tenantproof.ingest.mapping import Mapping, load_mappings
from tenantproof.ingest.registry import publish_registry, sync_hash_keys, sync_identifiers

GROUP = "ingest"
# Entities loaded before the others: their rows attribute the others' (registry, lookup).
FIRST = (TENANTS.name, TENANT_SOURCE_ACCOUNTS.name)


def _metadata(report: IngestReport, quarantined: dict[str, int]) -> dict[str, dg.MetadataValue]:
    meta: dict[str, dg.MetadataValue] = {
        k: dg.MetadataValue.int(v) for k, v in report.metadata().items()
    }
    meta["quarantine_by_reason"] = dg.MetadataValue.json(quarantined)
    if report.ignored:
        meta["ignored_files"] = dg.MetadataValue.json(report.ignored)
    if report.contested:
        meta["contested_files"] = dg.MetadataValue.json(report.contested)
    unexpected = report.unexpected_fields()
    if unexpected:
        meta["unmapped_fields"] = dg.MetadataValue.json(unexpected)
    return meta


def _warn(context: dg.AssetExecutionContext, report: IngestReport) -> None:
    """Fields no expression reads are kept on the row; files two mappings read are not read."""
    for warning in report.warnings():
        context.log.warning(warning)


def _load(
    context: dg.AssetExecutionContext, tenantproof: TenantproofResource, name: str
) -> tuple[IngestReport, dict[str, int]] | None:
    """Ingest the run's home's mapping ``name``; None when that home has no such mapping."""
    home = tenantproof.get_home()
    mappings = load_mappings(home)
    mapping = next((m for m in mappings if m.name == name), None)
    if mapping is None:
        context.log.warning(f"source {name} is not defined in {home.root}: nothing loaded")
        return None
    with tenantproof.warehouse() as con:
        report = ingest_source(con, home.landing, mapping, tenantproof.policy(), mappings)
        quarantined = quarantine_counts(con, mapping.name)
    _warn(context, report)
    context.log.info(
        f"{name}: read {report.read}, loaded {report.loaded}, "
        f"quarantined {report.quarantined} from {len(report.files)} file(s)"
    )
    return report, quarantined


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
    mappings = load_mappings(home)
    with tenantproof.warehouse() as con:
        report = ingest_source(con, home.landing, TENANTS, tenantproof.policy(), mappings)
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


def _source_asset(mapping: Mapping) -> dg.AssetsDefinition:
    deps = [dg.AssetKey(["raw", "tenants"])]
    if mapping.entity is not TENANT_SOURCE_ACCOUNTS:
        deps.append(dg.AssetKey(["raw", TENANT_SOURCE_ACCOUNTS.name]))
    reads = "; ".join(f"landing/{r.files} ({r.format})" for r in mapping.reads)

    @dg.asset(
        key=["sources", mapping.name],
        group_name=GROUP,
        deps=deps,
        description=f"Source {mapping.name} v{mapping.version} ({mapping.file.name}): {reads} "
        f"-> raw.{mapping.entity.name}. {mapping.description}".strip(),
        kinds={"duckdb"},
    )
    def _asset(context: dg.AssetExecutionContext, tenantproof: TenantproofResource):
        loaded = _load(context, tenantproof, mapping.name)
        if loaded is None:
            return dg.MaterializeResult(metadata={"defined": dg.MetadataValue.bool(False)})
        return dg.MaterializeResult(metadata=_metadata(*loaded))

    return _asset


def _entity_asset(entity: Source, mapped: list[Mapping]) -> dg.AssetsDefinition:
    in_graph = {m.name for m in mapped}
    deps = [dg.AssetKey(["sources", m.name]) for m in mapped]
    if not deps:
        deps = [dg.AssetKey(["raw", "tenants"])]

    @dg.asset(
        key=["raw", entity.name],
        group_name=GROUP,
        deps=deps,
        description=f"raw.{entity.name}: the rows its source mappings loaded "
        f"({', '.join(sorted(in_graph)) or 'none yet'}); rows that fail attribution or typing "
        "are in raw.quarantine with file, line and reason.",
    )
    def _asset(context: dg.AssetExecutionContext, tenantproof: TenantproofResource):
        home = tenantproof.get_home()
        meta: dict[str, dg.MetadataValue] = {}
        # mappings of this home the loaded graph does not have: ingested here, and named
        late = [
            m
            for m in load_mappings(home)
            if m.entity.name == entity.name and m.name not in in_graph
        ]
        for mapping in late:
            context.log.warning(
                f"source {mapping.name} ({mapping.file}) is not in the loaded graph yet: "
                "ingested by raw/" + entity.name + "; reload the definitions to see its asset"
            )
            loaded = _load(context, tenantproof, mapping.name)
            if loaded is not None:
                report, _ = loaded
                meta[f"{mapping.name}_rows_loaded"] = dg.MetadataValue.int(report.loaded)
        with tenantproof.warehouse() as con:
            rows = con.execute(
                f"select coalesce(_source, {entity.name!r}), count(*) from {entity.raw_table} "
                "group by all order by 1"
            ).fetchall()
        meta["rows_by_source"] = dg.MetadataValue.json({s: n for s, n in rows})
        meta["rows"] = dg.MetadataValue.int(sum(n for _, n in rows))
        return dg.MaterializeResult(metadata=meta)

    return _asset


def build_ingest_assets(mappings: list[Mapping]) -> list[dg.AssetsDefinition]:
    assets: list[dg.AssetsDefinition] = [tenant_registry]
    for entity in SOURCES.values():
        if entity is TENANTS:
            continue
        mapped = [m for m in mappings if m.entity is entity]
        assets += [_source_asset(m) for m in mapped]
        assets.append(_entity_asset(entity, mapped))
    return assets


ingest_assets = build_ingest_assets(load_mappings(Settings.from_environment().home))
