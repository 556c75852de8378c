"""One @dbt_assets over the whole project: `dbt build`, so dbt tests become asset checks."""

import json
import signal
import subprocess
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
from tenantproof.core.home import KEEP_DBT_RUNS, prune_dbt_runs
from tenantproof.transform.buildstate import full_refresh_reason, record_build
from tenantproof.transform.engine import (
    dbt_target,
    hand_raw_to_spark,
    mount_spark_relations,
    require_engine,
)

DBT_STOP_GRACE_SECONDS = 20.0


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
    full (tenantproof/transform/buildstate.py)."""
    settings = tenantproof.settings()
    home = settings.home.ensure()
    version = tenantproof.policy().version
    engine = settings.engine
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
    # dbt reads the run's settings (home, memory limit, as-of time) as vars, not the environment.
    invocation = dbt.cli(
        [*args, "--target", dbt_target(engine), "--vars", json.dumps(settings.dbt_vars())],
        context=context,
        target_path=run_dir,
    )
    # dbt holds the warehouse file while it runs: the results wait for it to finish, so that
    # each table's materialization can carry its rows and tenants (one writer per file).
    events = []
    try:
        events.extend(invocation.stream())
    except BaseException:
        # Interrupted (SIGINT, or SIGTERM, which Dagster handles alike) or failed while dbt
        # runs: dbt stops before the step ends, never outlives it (nor its parent process:
        # orchestration/resources.py dbt_executable).
        stop_dbt(invocation.process)
        yield from events
        raise
    prune_dbt_runs(home.dbt_target, keep=KEEP_DBT_RUNS)
    with tenantproof.warehouse() as con:
        if engine == "spark":
            mounted = mount_spark_relations(con, home)
            context.log.info(f"{len(mounted)} relation(s) built on Spark mounted in the warehouse")
        keys = {
            e.output_name: context.asset_key_for_output(e.output_name)
            for e in events
            if isinstance(e, dg.Output)
        }
        counts = relation_counts(con, [k.path for k in keys.values()], views=engine == "spark")
    for event in events:
        if isinstance(event, dg.Output) and tuple(keys[event.output_name].path) in counts:
            rows, tenants = counts[tuple(keys[event.output_name].path)]
            meta = {"dagster/row_count": dg.MetadataValue.int(rows)}
            if tenants is not None:
                meta["tenants"] = dg.MetadataValue.int(tenants)
            event = event.with_metadata({**event.metadata, **meta})
        yield event
    record_build(home, version, full_refresh=reason is not None, engine=engine)


def stop_dbt(process: subprocess.Popen, grace_seconds: float = DBT_STOP_GRACE_SECONDS) -> None:
    """Stop a running dbt as Ctrl-C does (SIGINT: it cancels its queries and exits), and kill
    it if it has not exited within ``grace_seconds``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def relation_counts(
    con, keys: list[list[str]], views: bool = False
) -> dict[tuple[str, ...], tuple[int, int | None]]:
    """(schema, name) -> (rows, distinct tenant_id or None) of the built tables among these asset
    keys; views are not scanned (on DuckDB they re-read their tables), except when ``views``
    (Spark's relations are mounted as views over their files)."""
    wanted = {tuple(k) for k in keys if len(k) == 2}
    found = con.execute(
        """select t.table_schema, t.table_name, t.table_type,
                  bool_or(c.column_name = 'tenant_id')
           from information_schema.tables t
           join information_schema.columns c using (table_catalog, table_schema, table_name)
           where t.table_catalog = current_database()
           group by all"""
    ).fetchall()
    out = {}
    for schema, name, kind, has_tenant in found:
        if (schema, name) not in wanted or (kind != "BASE TABLE" and not views):
            continue
        tenants = "count(distinct tenant_id)" if has_tenant else "null"
        rows, distinct = con.execute(
            f'select count(*), {tenants} from "{schema}"."{name}"'
        ).fetchone()
        out[(schema, name)] = (int(rows), None if distinct is None else int(distinct))
    return out
