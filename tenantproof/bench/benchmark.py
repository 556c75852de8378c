"""`tenantproof bench`: the whole pipeline against the floor, on seeded data.

The floor is what one machine needs at least for this job: one partitioned DuckDB COPY of the
raw audit events, from the same landing files, straight to per-tenant Parquet and CSV. The
pipeline adds ingest with quarantine, the dbt build, redaction, validation and manifests; the
ratios say what that costs. Benchmarks are measured here, never asserted in tests.

The mapped source stage measures ingest through a source mapping on its own: the same audit
events written as AWS CloudTrail records, loaded by the shipped ``aws_cloudtrail`` mapping, next
to a plain DuckDB ``read_json`` of the same files (in a scratch folder of its own, after the
pipeline's stages, so neither the pipeline's home nor its figures see it).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tenantproof.core.home import PROJECT_DIR, Home
from tenantproof.core.settings import Settings

RESULTS_DIR = PROJECT_DIR / "bench" / "results"
QUICK = (1_000_000, 1_000)
DEFAULT = (10_000_000, 1_000)
AS_OF = date(2026, 11, 15)
LAST_PERIOD = "2026-10"
CLOUDTRAIL = "aws_cloudtrail"  # the shipped mapping the mapped source stage loads through
MAPPED_TARGET = 1.5  # mapped ingest seconds / plain read_json seconds, at most
FIRST_ACCOUNT = 100_000_000_000  # tenant n's AWS account: FIRST_ACCOUNT + n, 12 digits
PLATFORM_ACCOUNT = "999999999999"  # the platform's own account: its events are global scope


@dataclass
class Stage:
    name: str
    seconds: float
    rows: int
    peak_rss_mb: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _peak_rss_mb() -> float:
    """Peak resident set of this process and of its finished children (dbt), in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _timed(name: str, rows: int, fn: Callable[[], dict[str, Any] | None]) -> Stage:
    start = time.perf_counter()
    detail = fn() or {}
    return Stage(name, time.perf_counter() - start, rows, _peak_rss_mb(), detail)


def floor(home: Home, memory_limit: str) -> dict[str, Any]:
    """One scan of the landing JSONL, written per tenant and period as Parquet and CSV."""
    from tenantproof.core.sources import AUDIT_EVENTS
    from tenantproof.core.warehouse import connect

    out = home.root / "floor"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    columns = ", ".join(f"'{k}': '{v}'" for k, v in AUDIT_EVENTS.columns.items())
    files = [str(p) for p in sorted((home.landing / "audit_events").glob("part-0*.jsonl"))]
    con = connect(Path(":memory:"), memory_limit=memory_limit)
    con.execute(f"set temp_directory = '{home.root / 'floor_tmp'}'")
    try:
        con.execute(
            f"""create temp table batch as
            select *, strftime(occurred_at, '%Y-%m') as period
            from read_json(?, format = 'newline_delimited', columns = {{{columns}}})""",
            [files],
        )
        for fmt, options in (("parquet", "format parquet"), ("csv", "format csv, header true")):
            con.execute(
                f"copy batch to '{out / fmt}' ({options}, partition_by (tenant_id, period), "
                "write_partition_columns true)"
            )
        rows = con.execute("select count(*) from batch").fetchone()[0]
    finally:
        con.close()
    return {"rows": rows, "files": len(list(out.rglob("data_*")))}


def cloudtrail_select(part: str, columns: str) -> str:
    """The bench's canonical audit events as CloudTrail records (``e``: a generated part file,
    read with the entity's columns; ``x``: the tenant's account; global events are the
    platform's own)."""
    return f"""
    select e.event_id as eventID,
           '1.08' as eventVersion,
           {{'type': 'IAMUser',
             'principalId': 'AIDA' || upper(md5(e.actor_id)[:16]),
             'arn': 'arn:aws:iam::' || x.account || ':user/' || e.actor_id,
             'accountId': x.account,
             'userName': e.actor_email}} as userIdentity,
           strftime(e.occurred_at, '%Y-%m-%dT%H:%M:%SZ') as eventTime,
           e.service || '.amazonaws.com' as eventSource,
           e.action as eventName,
           'eu-west-1' as awsRegion,
           e.actor_ip as sourceIPAddress,
           e.user_agent as userAgent,
           case e.outcome when 'success' then null when 'denied' then 'AccessDenied'
                else 'OperationFailed' end as errorCode,
           case when e.outcome <> 'success' then e.reason end as errorMessage,
           e.details as requestParameters,
           null::json as responseElements,
           {{'reason': e.reason}} as additionalEventData,
           e.details ->> 'request_id' as requestID,
           [{{'ARN': 'arn:aws:' || e.service || ':eu-west-1:' || x.account || ':'
                     || e.resource_type || '/' || e.resource_id,
              'accountId': x.account,
              'type': e.resource_type}}] as resources,
           'AwsApiCall' as eventType,
           true as managementEvent,
           coalesce(x.account, '{PLATFORM_ACCOUNT}') as recipientAccountId
    from read_json({part}, format = 'newline_delimited', columns = {columns}) e
    left join accounts x on x.tenant_id = e.tenant_id"""


def write_cloudtrail(home: Home, landing: Path, memory_limit: str) -> dict[str, Any]:
    """The generated audit events (``part-0*.jsonl``) as CloudTrail JSON Lines under
    ``landing/aws_cloudtrail/``, one file per part, by DuckDB COPY; the registry as generated;
    and the lookup: each tenant's 12-digit account, and the platform's as global scope."""
    from tenantproof.core.sources import AUDIT_EVENTS
    from tenantproof.core.warehouse import connect, sql_literal

    parts = sorted((home.landing / "audit_events").glob("part-0*.jsonl"))
    for folder in ("tenants", "tenant_source_accounts", CLOUDTRAIL):
        (landing / folder).mkdir(parents=True, exist_ok=True)
    registry = landing / "tenants" / "tenants.csv"
    shutil.copyfile(home.landing / "tenants" / "tenants.csv", registry)
    types = {**AUDIT_EVENTS.columns, "details": "JSON"}
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
    con = connect(Path(":memory:"), memory_limit=memory_limit)
    con.execute(f"set temp_directory = {sql_literal(landing.parent / 'write_tmp')}")
    try:
        con.execute(
            "create temp table accounts as select tenant_id, "
            f"printf('%012d', {FIRST_ACCOUNT} + row_number() over (order by tenant_id)) "
            f"as account from read_csv({sql_literal(registry)}, all_varchar = true)"
        )
        lookup = landing / "tenant_source_accounts" / "accounts.csv"
        con.execute(
            "copy (select 'aws_account' as lookup, account as source_key, tenant_id, "
            "null::varchar as global_scope, null::varchar as scope_justification from accounts "
            f"union all select 'aws_account', '{PLATFORM_ACCOUNT}', null, 'platform', "
            "'the platform''s own account: its changes reach every tenant' order by 2) "
            f"to {sql_literal(lookup)} (format csv, header true)"
        )
        files, rows = [], 0
        for part in parts:
            target = landing / CLOUDTRAIL / part.name
            select = cloudtrail_select(sql_literal(part), columns)
            # COPY answers with the rows it wrote
            rows += con.execute(
                f"copy ({select}) to {sql_literal(target)} (format json)"
            ).fetchone()[0]
            files.append(target)
        accounts = con.execute("select count(*) from accounts").fetchone()[0]
    finally:
        con.close()
    return {
        "rows": rows,
        "files": [str(f) for f in files],
        "bytes": sum(f.stat().st_size for f in files),
        "accounts": accounts + 1,
    }


def mapped_ingest(home: Home, scratch: Path, memory_limit: str, keep: bool = False) -> Stage:
    """The generated audit events as CloudTrail records in ``scratch`` (not timed), loaded by
    ``ingest_source`` through the shipped aws_cloudtrail mapping into a warehouse file of its
    own (timed: the stage's seconds) after the registry and the lookup (not timed), and read by
    a plain ``create table as select * from read_json`` into another (timed: the yardstick).
    ``scratch`` is removed after, unless ``keep``."""
    from tenantproof.core.policy import load_policy
    from tenantproof.core.warehouse import connect
    from tenantproof.ingest.load import ingest_source, quarantine_counts
    from tenantproof.ingest.mapping import load_mappings, mapping_for

    shutil.rmtree(scratch, ignore_errors=True)
    landing = scratch / "landing"
    try:
        start = time.perf_counter()
        written = write_cloudtrail(home, landing, memory_limit)
        write_seconds = time.perf_counter() - start
        mappings = load_mappings(None)
        policy = load_policy()
        con = connect(scratch / "mapped" / "warehouse.duckdb", memory_limit=memory_limit)
        try:
            setup = {
                name: ingest_source(con, landing, mapping_for(mappings, name), policy, mappings)
                for name in ("tenants", "tenant_source_accounts")
            }
            start = time.perf_counter()
            loaded = ingest_source(
                con, landing, mapping_for(mappings, CLOUDTRAIL), policy, mappings
            )
            mapped_seconds = time.perf_counter() - start
            reasons = quarantine_counts(con, CLOUDTRAIL)
        finally:
            con.close()
        con = connect(scratch / "plain" / "warehouse.duckdb", memory_limit=memory_limit)
        try:
            start = time.perf_counter()
            con.execute(
                "create table x as select * from read_json(?, format = 'newline_delimited')",
                [written["files"]],
            )
            plain_seconds = time.perf_counter() - start
            plain_rows = con.execute("select count(*) from x").fetchone()[0]
        finally:
            con.close()
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    rows = written["rows"]
    unexpected = sorted({name for names in loaded.unexpected_fields().values() for name in names})
    detail = {
        "mapping": CLOUDTRAIL,
        "files": len(written["files"]),
        "bytes": written["bytes"],
        "accounts": written["accounts"],
        "write_seconds": round(write_seconds, 2),
        "registry_loaded": setup["tenants"].loaded,
        "lookup_loaded": setup["tenant_source_accounts"].loaded,
        "rows_written": rows,
        "read": loaded.read,
        "loaded": loaded.loaded,
        "quarantined": loaded.quarantined,
        "balanced": loaded.read == loaded.loaded + loaded.quarantined,
        "quarantine_reasons": reasons,
        "unmapped_fields": unexpected,
        "mapped_rows_per_second": round(rows / mapped_seconds) if mapped_seconds else 0,
        "plain_read_json": {
            "seconds": round(plain_seconds, 3),
            "rows": plain_rows,
            "rows_per_second": round(plain_rows / plain_seconds) if plain_seconds else 0,
        },
        "ratio_vs_read_json": round(mapped_seconds / plain_seconds, 3) if plain_seconds else 0,
        "target": MAPPED_TARGET,
    }
    return Stage("mapped_ingest", mapped_seconds, rows, _peak_rss_mb(), detail)


def _step_seconds(instance, job_name: str) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per step of the job's latest run, and seconds per phase of the export inside
    it (its materialization's ``phase_seconds``), from Dagster's event log (read after the
    timed stages, so reading the log is not counted in them)."""
    import dagster as dg

    run = instance.get_runs(filters=dg.RunsFilter(job_name=job_name), limit=1)[0]
    starts, out, phases = {}, {}, {}
    for event in instance.all_logs(run.run_id):
        if event.step_key is None or event.dagster_event is None:
            continue
        kind = event.dagster_event.event_type_value
        if kind == "STEP_START":
            starts[event.step_key] = event.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts:
            out[event.step_key] = round(event.timestamp - starts[event.step_key], 2)
        elif kind == "ASSET_MATERIALIZATION":
            metadata = event.dagster_event.event_specific_data.materialization.metadata
            if "phase_seconds" in metadata:
                phases = dict(metadata["phase_seconds"].value)
    return out, phases


def run(
    events: int,
    tenants: int,
    workdir: Path,
    memory_limit: str = "4GB",
    engine: str | None = None,
) -> dict[str, Any]:
    """The stages on a fresh home in ``workdir``, whose settings read no environment (no
    configured signing key or region root of this process reaches the scratch run)."""
    from orchestration import runner as cli
    from tenantproof.demo.generate import generate

    shutil.rmtree(workdir, ignore_errors=True)
    settings = Settings.resolve(home=workdir, memory_limit=memory_limit, engine=engine, environ={})
    home = settings.home.ensure()
    stages: list[Stage] = []

    summary = generate(home.root, tenants=tenants, events=events, seed=42, as_of=AS_OF)
    stages.append(_timed("floor", events, lambda: floor(home, memory_limit)))

    def full() -> dict[str, Any]:
        cli.build(settings)
        periods = cli.available_periods(home, LAST_PERIOD)
        cli.export(settings, periods, None)
        return {"periods": periods}

    full_stage = _timed("full_pipeline", summary.audit_events, full)
    stages.append(full_stage)
    with cli.instance(home) as instance:
        build_steps, _ = _step_seconds(instance, "warehouse_job")
        export_steps, phases = _step_seconds(instance, "tenant_audit_bundles_job")
        full_stage.detail["steps"] = {**build_steps, **export_steps}
        # where the export step's time goes: the profile of the slowest stage
        full_stage.detail["export_phases"] = phases
    full_stage.detail["bundles"] = len(list(home.exports.glob("*/*/*/manifest.json")))
    export_seconds = full_stage.detail["steps"].get("tenant_audit_bundles", full_stage.seconds)

    def one_tenant() -> dict[str, Any]:
        cli.export(settings, [LAST_PERIOD], ["t1"])
        return {"tenant": "t1", "period": LAST_PERIOD}

    stages.append(_timed("single_tenant_export", 0, one_tenant))

    def incremental() -> dict[str, Any]:
        added = generate_increment(home, max(events // 100, 1))
        cli.build(settings)
        changed = changed_bundles(home)
        for period, tenant_ids in sorted(changed.items()):
            cli.export(settings, [period], tenant_ids)
        return {"new_events": added, "bundles_reexported": sum(map(len, changed.values()))}

    stages.append(_timed("incremental", max(events // 100, 1), incremental))
    # Last, so its memory is in no pipeline stage's peak RSS; in a scratch folder of its own.
    stages.append(mapped_ingest(home, workdir / "mapped", memory_limit))

    by_name = {s.name: s for s in stages}
    ratios = {
        "pipeline_vs_floor": by_name["full_pipeline"].seconds / by_name["floor"].seconds,
        "single_tenant_vs_full": by_name["single_tenant_export"].seconds / export_seconds,
        "incremental_vs_full": by_name["incremental"].seconds / by_name["full_pipeline"].seconds,
        "mapped_vs_read_json": by_name["mapped_ingest"].detail["ratio_vs_read_json"],
    }
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": events,
        "tenants": tenants,
        "memory_limit": memory_limit,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "stages": [{**asdict(s), "rows_per_second": round(s.rows_per_second)} for s in stages],
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "targets": {
            "pipeline_vs_floor": 2.0,
            "single_tenant_vs_full": 0.02,
            "incremental_vs_full": 0.20,
            "mapped_vs_read_json": MAPPED_TARGET,
            "peak_rss_mb": 6 * 1024,
        },
    }


def generate_increment(home: Home, n: int) -> int:
    """1% new audit events for a few tenants in the last period, as a new landing file."""
    from tenantproof.core.warehouse import connect

    con = connect(home.warehouse, read_only=True)
    try:
        template = con.execute(
            "select * exclude (_file, _line, _sha256, _loaded_at) from raw.audit_events "
            "where tenant_id in ('t1', 't2', 't3') and strftime(occurred_at, '%Y-%m') = ? "
            "limit 1",
            [LAST_PERIOD],
        ).fetchone()
        cols = [d[0] for d in con.description]
    finally:
        con.close()
    target = home.landing / "audit_events" / "increment-0001.jsonl"
    row = dict(zip(cols, template, strict=True))
    with target.open("w", encoding="utf-8") as fh:
        for i in range(n):
            row.update(
                event_id=f"ae-inc{i:09d}",
                tenant_id=("t1", "t2", "t3")[i % 3],
                occurred_at=row["occurred_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
                if hasattr(row["occurred_at"], "strftime")
                else row["occurred_at"],
            )
            fh.write(json.dumps(row) + "\n")
    return n


def changed_bundles(home: Home) -> dict[str, list[str]]:
    """Tenant x period pairs with rows loaded after the last export: what must be re-exported."""
    from tenantproof.core.warehouse import connect

    con = connect(home.warehouse, read_only=True)
    try:
        rows = con.execute(
            """select strftime(occurred_at, '%Y-%m') as period, list(distinct tenant_id order by
                   tenant_id)
               from raw.audit_events
               where _loaded_at = (select max(_loaded_at) from raw.audit_events)
                 and tenant_id is not null
               group by 1"""
        ).fetchall()
    finally:
        con.close()
    return {period: tenants for period, tenants in rows if period <= LAST_PERIOD}


def report(result: dict[str, Any]) -> str:
    lines = [
        f"tenantproof bench: {result['events']:,} events x {result['tenants']:,} tenants "
        f"(memory limit {result['memory_limit']})",
        f"{'stage':<22}{'seconds':>10}{'rows/s':>14}{'peak RSS MB':>14}",
    ]
    for s in result["stages"]:
        lines.append(
            f"{s['name']:<22}{s['seconds']:>10.1f}{s['rows_per_second']:>14,}"
            f"{s['peak_rss_mb']:>14,.0f}"
        )
    for name, value in result["ratios"].items():
        target = result["targets"][name]
        verdict = "ok" if value <= target else f"MISSED by {value / target:.1f}x"
        lines.append(f"{name:<24}{value:>8.3f}  (target <= {target})  {verdict}")
    steps = next(s for s in result["stages"] if s["name"] == "full_pipeline")["detail"]["steps"]
    lines.append("full pipeline steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in steps.items()))
    phases = next(s for s in result["stages"] if s["name"] == "full_pipeline")["detail"].get(
        "export_phases", {}
    )
    if phases:
        slowest = sorted(phases.items(), key=lambda item: -item[1])
        lines.append("export phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in slowest))
    mapped = next((s for s in result["stages"] if s["name"] == "mapped_ingest"), None)
    if mapped:
        lines += mapped_lines(mapped["detail"])
    return "\n".join(lines)


def mapped_lines(detail: dict[str, Any]) -> list[str]:
    """The mapped source stage next to its yardstick, and where its rows went."""
    plain = detail["plain_read_json"]
    lines = [
        f"mapped ingest ({detail['mapping']}): {detail['mapped_rows_per_second']:,} rows/s; "
        f"plain read_json: {plain['rows_per_second']:,} rows/s; "
        f"ratio {detail['ratio_vs_read_json']:.2f}x (target <= {detail['target']}x)",
        f"mapped ingest rows: {detail['rows_written']:,} written, {detail['read']:,} read, "
        f"{detail['loaded']:,} loaded, {detail['quarantined']:,} quarantined"
        + ("" if detail["balanced"] else "  UNBALANCED"),
    ]
    if detail["quarantine_reasons"]:
        lines.append(
            "mapped ingest quarantined: "
            + ", ".join(f"{k} {v:,}" for k, v in detail["quarantine_reasons"].items())
        )
    return lines


def save(result: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path
