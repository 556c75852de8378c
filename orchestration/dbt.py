"""One @dbt_assets over the whole project: `dbt build`, so dbt tests become asset checks."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from orchestration.project import dbt_project
from orchestration.resources import TenantproofResource
from tenantproof.buildstate import full_refresh_reason, record_build
from tenantproof.config import KEEP_DBT_RUNS, prune_dbt_runs
from tenantproof.engine import (
    dbt_target,
    engine_name,
    hand_raw_to_spark,
    mount_spark_relations,
    require_engine,
)


class TenantproofTranslator(DagsterDbtTranslator):
    """Groups follow the dbt folder (staging, intermediate, marts, export; seeds are policy),
    or a `dagster.group` in the node's meta: no model names here."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        meta = dbt_resource_props.get("meta", {}) or {}
        group = (meta.get("dagster") or {}).get("group")
        if group:
            return group
        if dbt_resource_props["resource_type"] == "seed":
            return "policy"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "warehouse"

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        """dbt tests stay checks, but not Dagster-blocking ones: `dbt build` already skips
        everything downstream of a failing test, and blocking checks would split the one dbt
        invocation into several, running multi-model tests before their models exist."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        return None if spec is None else spec._replace(blocking=False)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=TenantproofTranslator(
        settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)
    ),
)
def warehouse_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, tenantproof: TenantproofResource
):
    """Staging, intermediate, marts and the export-shaped models, with their data tests. The
    large marts are incremental; a changed policy or registry, or removed rows, rebuild them in
    full (tenantproof/buildstate.py)."""
    home = tenantproof.get_home()
    version = tenantproof.policy().version
    engine = engine_name()
    require_engine(engine)
    reason = full_refresh_reason(home, version, engine)
    args = ["build", "--full-refresh"] if reason else ["build"]
    context.log.info(f"dbt {' '.join(args)} on {engine}" + (f" ({reason})" if reason else ""))
    if engine == "spark":
        with tenantproof.warehouse() as con:
            rows = hand_raw_to_spark(con, home)
        context.log.info(
            "raw tables handed to Spark: " + ", ".join(f"{t} {n}" for t, n in rows.items())
        )
    # The run's artefacts and logs (compiled SQL, dbt.log) name tenants: they stay in the home,
    # which tenant deletion sweeps, never in the repository; the last few runs are kept.
    run_dir = home.dbt_target / f"warehouse_models-{context.run.run_id[:8]}"
    yield from dbt.cli(
        [*args, "--target", dbt_target(engine)], context=context, target_path=run_dir
    ).stream()
    prune_dbt_runs(home.dbt_target, keep=KEEP_DBT_RUNS)
    if engine == "spark":
        with tenantproof.warehouse() as con:
            mounted = mount_spark_relations(con, home)
        context.log.info(f"{len(mounted)} relation(s) built on Spark mounted in the warehouse")
    record_build(home, version, full_refresh=reason is not None, engine=engine)
