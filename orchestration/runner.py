"""The pipeline's API in process: build, export, deletion and the run they share.

The CLI, the benchmark, the release gate and the tests drive the same Dagster definitions that
`dagster dev` loads, against the instance in the data home, so their runs show in the UI. This
module is that one way in; the CLI is only its argparse front end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from exports.contract import is_bundle_name
from exports.leftovers import describe, find_leftovers, sweep_leftovers
from exports.signing import LocalSigningKey
from exports.tenant_index import read_index, update_index
from orchestration.partitions import (
    PERIOD_PARTITIONS,
    TENANT_PARTITIONS,
    contiguous_blocks,
    range_tags,
)
from orchestration.resources import build_resources
from orchestration.sensors import registered_tenants, sync_tenant_partitions
from tenantproof.analytics.reconcile import reconcile
from tenantproof.core.home import Home
from tenantproof.core.periods import last_complete_period, parse_period, periods_between
from tenantproof.core.policy import load_policy
from tenantproof.core.residency import region_roots
from tenantproof.core.settings import Settings
from tenantproof.core.warehouse import connect
from tenantproof.erasure.certificates import tenant_area
from tenantproof.erasure.deletion import CERTIFICATE, PROGRESS, UnknownTenant, check_deletable

RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def instance(home: Home) -> dg.DagsterInstance:
    """The home's Dagster instance (``<home>/dagster``), the one `dagster dev` shows."""
    return dg.DagsterInstance.from_config(str(home.dagster_home))


def run_job(
    dagster,
    job: str,
    what: str,
    *,
    tags: dict[str, str] | None = None,
    op_config: dict[str, dict] | None = None,
    resources: dict[str, object] | None = None,
):
    """Run one of the definitions' jobs in process (it shows in the UI); a failed run stops
    with the reason its step gave. ``op_config``: op name -> config; ``resources`` replace
    the definitions' own (the release gate's scratch home)."""
    from orchestration.definitions import defs

    run_config = dict(RUN_CONFIG)
    if op_config:
        run_config["ops"] = {op: {"config": c} for op, c in op_config.items()}
    result = defs.resolve_job_def(job).execute_in_process(
        instance=dagster,
        tags=tags,
        raise_on_error=False,
        run_config=run_config,
        resources=resources,
    )
    if not result.success:
        raise SystemExit(_run_failure(what, result))
    return result


def build(settings: Settings, resources: dict[str, object] | None = None) -> None:
    """Ingest every new landing file and build the dbt project, as one Dagster run."""
    home = settings.home.ensure()
    with instance(home) as dagster:
        run_job(
            dagster,
            "warehouse_job",
            "warehouse build",
            resources=resources or build_resources(settings),
        )
        sync_tenant_partitions(dagster, home)


def export(
    settings: Settings,
    periods: Sequence[str],
    tenants: Sequence[str] | None,
    resources: dict[str, object] | None = None,
) -> None:
    """Export the given periods for the given tenants (all registered) in one run per block of
    consecutive periods and neighbouring tenants: one scan, one validation, atomic publication."""
    home = settings.home.ensure()
    resources = resources or build_resources(settings)
    blocks = period_blocks(periods)
    with instance(home) as dagster:
        sync_tenant_partitions(dagster, home)
        registered = registered_tenants(home)
        chosen = sorted(tenants or registered)
        unknown = sorted(set(chosen) - set(registered))
        if unknown:
            raise SystemExit(f"unknown tenant(s): {', '.join(unknown)}")
        if not chosen:
            raise SystemExit("no registered tenants: run `tenantproof build` first")
        order = dagster.get_dynamic_partitions(TENANT_PARTITIONS.name)
        runs = [
            range_tags((start, first), (end, last))
            for start, end in blocks
            for first, last in contiguous_blocks(order, chosen)
        ]
        # every run goes ahead: one run's withheld bundles never hold back another run's
        failures = []
        for tags in runs:
            try:
                run_job(
                    dagster, "tenant_audit_bundles_job", "export", tags=tags, resources=resources
                )
            except SystemExit as exc:
                failures.append(str(exc))
        if failures:
            raise SystemExit("\n".join(failures))


def period_blocks(periods: Sequence[str]) -> list[tuple[str, str]]:
    """The asked periods as runs of consecutive months (so 2026-08 and 2026-10 never export
    2026-09); a period that is not a month the bundles partition (YYYY-MM, from the first
    partition to the last complete month) stops the export, named."""
    last_month = last_complete_period(datetime.now(UTC).date())  # the partitions' last
    first = PERIOD_PARTITIONS.start.strftime("%Y-%m")
    for period in periods:
        try:
            parse_period(period)
        except ValueError as exc:
            raise SystemExit(f"--period: {exc}") from None
        if not first <= period <= last_month:
            raise SystemExit(
                f"--period: {period} is outside the bundle periods {first}..{last_month}"
            )
    chosen = sorted(set(periods))
    if not chosen:
        raise SystemExit("no period to export")
    order = periods_between(chosen[0], chosen[-1])
    return contiguous_blocks(order, chosen)


def _run_failure(what: str, result: dg.ExecuteInProcessResult) -> str:
    """The reason a step gave (a Failure's description), not just that the run failed."""
    reasons = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            user = event.step_failure_data.user_failure_data
            while error.cause is not None:  # the step's own exception, not Dagster's wrapper
                error = error.cause
            reasons.append(user.description if user and user.description else error.message)
    if not reasons:
        reasons = [e.message for e in result.all_events if e.is_failure and e.message]
    return f"{what} failed: " + ("; ".join(r.strip() for r in reasons) or "see `make dev`")


def available_periods(home: Home, last: str) -> list[str]:
    """Complete periods with audit or access activity, up to `last`."""
    con = connect(home.warehouse, read_only=True)
    try:
        rows = con.execute(
            """select distinct period from (
                   select period from export.rpt_tenant_audit_events
                   union select period from export.rpt_tenant_access_history)
               where period <= ? order by 1""",
            [last],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def summary(home: Home, tenants: Sequence[str] | None = None) -> str:
    """Rows, quarantine and published bundles; after a command for some ``tenants``, the bundle
    shown as an example is one of theirs (never another tenant's)."""
    lines = [f"data home: {home.root}"]
    con = connect(home.warehouse, read_only=True)
    try:
        lines.append("rows: source           read   loaded  quarant.  tenant  shared  excluded")
        for r in reconcile(con):
            flag = "ok" if r.balanced else "DOES NOT ADD UP"
            lines.append(
                f"      {r.source:<16}{r.read:>7}{r.loaded:>9}{r.quarantined:>10}"
                f"{r.tenant_rows:>8}{r.global_rows_applied:>8}{r.global_rows_excluded:>10}  {flag}"
            )
        reasons = con.execute(
            "select reason_code, count(*) from raw.quarantine group by all order by 2 desc"
        ).fetchall()
    finally:
        con.close()
    lines.append("quarantine: " + ", ".join(f"{code} {n}" for code, n in reasons))
    bundles = sorted(
        p.parent
        for p in home.exports.glob("*/*/*/manifest.json")
        if is_bundle_name(p.parent.name) and not p.parent.parent.name.startswith(".")
    )
    regions: dict[str, set[str]] = {}
    for b in bundles:
        regions.setdefault(b.parts[-3], set()).add(b.parts[-2])
    lines.append(
        f"bundles: {len(bundles)} published under {home.exports} "
        + "("
        + ", ".join(f"{r}: {len(t)} tenants" for r, t in sorted(regions.items()))
        + ")"
    )
    shown = [b for b in bundles if tenants is None or b.parts[-2] in set(tenants)]
    if shown:
        lines.append(f"  e.g. {shown[-1]}")
    return "\n".join(lines)


def doctor(settings: Settings, clean: bool) -> list[str]:
    """What killed runs left (``exports.leftovers``), removed with ``clean``; and each
    tenant's signed index reconciled with its published bundles. One line per finding."""
    home = settings.home.ensure()
    policy = load_policy()
    roots = region_roots(home, policy)
    found = (sweep_leftovers if clean else find_leftovers)(home, roots)
    lines = [
        f"{'removed' if clean else 'found'}: {item.path} ({item.what}, {item.bytes} bytes)"
        for item in found
    ]
    if clean:
        signer = LocalSigningKey.for_home(home)
        for region, root in sorted(roots.items()):
            for tenant_root in sorted(p for p in root.glob("*") if p.is_dir()):
                before = read_index(tenant_root)
                after = update_index(tenant_root, tenant_root.name, region, signer, "doctor")
                if after is not None and after != before:
                    lines.append(
                        f"index of {region}/{tenant_root.name}: now sequence {after['sequence']}"
                    )
    return lines


def delete_tenant(settings: Settings, tenant: str, reason: str, requested_by: str) -> Path:
    """Run the deletion job in process (it appears in the UI); an unknown tenant is refused
    before any run starts, so that nothing changes at all."""
    home = settings.home.ensure()
    certificate = tenant_area(home, tenant) / CERTIFICATE
    if not (tenant_area(home, tenant) / PROGRESS).exists():
        try:
            check_deletable(home, tenant)
        except UnknownTenant as exc:
            raise SystemExit(f"delete-tenant: {exc}") from exc
    config = {"tenant": tenant, "reason": reason, "requested_by": requested_by}
    with instance(home) as dagster:
        run_job(
            dagster,
            "delete_tenant_job",
            f"deletion of tenant {tenant}",
            op_config={"delete_tenant": config},
            resources=build_resources(settings),
        )
    # the job removed (and certified) the tenant's own staged content; what else killed runs
    # left, other tenants' plaintext included, goes too
    swept = sweep_leftovers(home, region_roots(home, load_policy()))
    if swept:
        print(f"removed {describe(swept)}")
    return certificate
