"""`tenantproof`: everything a person runs outside the Dagster UI.

The commands run the same Dagster definitions as `dagster dev`, in process, against the
instance in the data home, so their runs appear in the UI afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from tenantproof.config import HOME_ENV, Home


def _home(args: argparse.Namespace) -> Home:
    home = Home.from_env(args.home) if args.home else Home.from_env()
    # dbt runs as a subprocess and reads the same variable: hand it the resolved path.
    os.environ[HOME_ENV] = str(home.root)
    return home.ensure()


RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _instance(home: Home):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home.dagster_home))


def run_job(
    instance,
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
        instance=instance,
        tags=tags,
        raise_on_error=False,
        run_config=run_config,
        resources=resources,
    )
    if not result.success:
        raise SystemExit(_run_failure(what, result))
    return result


def cmd_generate(args: argparse.Namespace) -> int:
    from tenantproof.generate import generate

    home = _home(args)
    summary = generate(home.root, tenants=args.tenants, events=args.events, seed=args.seed)
    print(
        f"generated {summary.tenants} tenants, {summary.audit_events} audit events, "
        f"{summary.access_history} access rows, {summary.evidence_events} evidence rows "
        f"under {home.landing}"
    )
    print("planted problems: " + ", ".join(f"{k}={v}" for k, v in sorted(summary.planted.items())))
    return 0


def build(home: Home, resources: dict[str, object] | None = None) -> None:
    """Ingest every new landing file and build the dbt project, as one Dagster run."""
    from orchestration.sensors import sync_tenant_partitions

    with _instance(home) as instance:
        run_job(instance, "warehouse_job", "warehouse build", resources=resources)
        sync_tenant_partitions(instance, home)


def export(
    home: Home,
    periods: Sequence[str],
    tenants: Sequence[str] | None,
    resources: dict[str, object] | None = None,
) -> None:
    """Export the given periods for the given tenants (all registered) in one run per block of
    consecutive periods and neighbouring tenants: one scan, one validation, atomic publication."""
    from orchestration.sensors import registered_tenants, sync_tenant_partitions

    blocks = period_blocks(periods)
    with _instance(home) as instance:
        sync_tenant_partitions(instance, home)
        chosen = sorted(tenants or registered_tenants(home))
        unknown = sorted(set(chosen) - set(registered_tenants(home)))
        if unknown:
            raise SystemExit(f"unknown tenant(s): {', '.join(unknown)}")
        if not chosen:
            raise SystemExit("no registered tenants: run `tenantproof build` first")
        order = instance.get_dynamic_partitions("tenants")
        runs = [
            {
                "dagster/asset_partition_range_start": f"{start}|{first}",
                "dagster/asset_partition_range_end": f"{end}|{last}",
            }
            for start, end in blocks
            for first, last in contiguous_blocks(order, chosen)
        ]
        for tags in runs:
            run_job(instance, "tenant_audit_bundles_job", "export", tags=tags, resources=resources)


def period_blocks(periods: Sequence[str]) -> list[tuple[str, str]]:
    """The asked periods as runs of consecutive months (so 2026-08 and 2026-10 never export
    2026-09); a period that is not a month the bundles partition (YYYY-MM, from the first
    partition to the last complete month) stops the export, named."""
    from orchestration.partitions import PERIOD_PARTITIONS
    from tenantproof.periods import last_complete_period, parse_period, periods_between

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


def contiguous_blocks(order: Sequence[str], chosen: Sequence[str]) -> list[tuple[str, str]]:
    """The chosen tenants as runs of neighbours in partition order: a range over a
    multi-partition is a rectangle, so each block is one run (one scan, one validation)."""
    positions = sorted(order.index(t) for t in chosen)
    blocks: list[list[int]] = []
    for pos in positions:
        if blocks and pos == blocks[-1][-1] + 1:
            blocks[-1].append(pos)
        else:
            blocks.append([pos])
    return [(order[b[0]], order[b[-1]]) for b in blocks]


def _run_failure(what: str, result) -> str:
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
    from tenantproof.warehouse import connect

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


def summary(home: Home) -> str:
    from tenantproof.reconcile import reconcile
    from tenantproof.warehouse import connect

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
    bundles = sorted(p.parent for p in home.exports.glob("*/*/*/manifest.json"))
    regions: dict[str, set[str]] = {}
    for b in bundles:
        regions.setdefault(b.parts[-3], set()).add(b.parts[-2])
    lines.append(
        f"bundles: {len(bundles)} published under {home.exports} "
        + "("
        + ", ".join(f"{r}: {len(t)} tenants" for r, t in sorted(regions.items()))
        + ")"
    )
    if bundles:
        lines.append(f"  e.g. {bundles[0]}")
    return "\n".join(lines)


def cmd_build(args: argparse.Namespace) -> int:
    home = _home(args)
    if args.as_of:
        from tenantproof.retention import AS_OF_ENV

        formats = {10: "%Y-%m-%d", 16: "%Y-%m-%d %H:%M", 19: "%Y-%m-%d %H:%M:%S"}
        try:  # the forms dbt's as_of accepts (macros/drift.sql), checked before any work
            datetime.strptime(args.as_of, formats[len(args.as_of)])
        except (KeyError, ValueError):
            raise SystemExit(
                f"--as-of {args.as_of!r} is not YYYY-MM-DD[ HH:MM[:SS]] (UTC)"
            ) from None
        os.environ[AS_OF_ENV] = args.as_of  # dbt and the purge read the same variable
    build(home)
    print(summary(home))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tenantproof.periods import last_complete_period

    home = _home(args)
    last = last_complete_period(datetime.now(UTC).date())
    periods = args.period or ([last] if not args.all_periods else available_periods(home, last))
    export(home, periods, args.tenant)
    print(summary(home))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tenantproof.periods import last_complete_period

    home = _home(args)
    started = datetime.now(UTC)
    cmd_generate(args)
    build(home)
    periods = available_periods(home, last_complete_period(started.date()))
    export(home, periods, None)
    build(home)  # again, so the analytics snapshot sees the published bundles (maturity level 2)
    print(summary(home))
    seconds = (datetime.now(UTC) - started).total_seconds()
    print(f"demo finished in {seconds:.0f} s; `make dev` opens the asset graph on this home")
    print("`make dashboard` shows evidence freshness, drift flags and maturity per tenant")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    print(summary(_home(args)))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from tenantproof import bench

    events, tenants = bench.QUICK if args.quick else bench.DEFAULT
    events = args.events or events
    tenants = args.tenants or tenants
    workdir = Path(args.workdir or (Home.from_env().root.parent / "bench-home")).resolve()
    result = bench.run(events, tenants, workdir, memory_limit=args.memory_limit)
    print(bench.report(result))
    print(f"results: {bench.save(result)}")
    return 0


def delete_tenant(home: Home, tenant: str, reason: str, requested_by: str) -> Path:
    """Run the deletion job in process (it appears in the UI); an unknown tenant is refused
    before any run starts, so that nothing changes at all."""
    from tenantproof.certificates import tenant_area
    from tenantproof.deletion import CERTIFICATE, PROGRESS, UnknownTenant, check_deletable

    certificate = tenant_area(home, tenant) / CERTIFICATE
    if not (tenant_area(home, tenant) / PROGRESS).exists():
        try:
            check_deletable(home, tenant)
        except UnknownTenant as exc:
            raise SystemExit(f"delete-tenant: {exc}") from exc
    config = {"tenant": tenant, "reason": reason, "requested_by": requested_by}
    with _instance(home) as instance:
        run_job(
            instance,
            "delete_tenant_job",
            f"deletion of tenant {tenant}",
            op_config={"delete_tenant": config},
        )
    return certificate


def cmd_delete_tenant(args: argparse.Namespace) -> int:
    import getpass

    home = _home(args)
    try:
        who = args.requested_by or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        who = "unknown"
    certificate = delete_tenant(home, args.tenant, args.reason, who)
    print(f"tenant {args.tenant} deleted; signed certificate: {certificate}")
    print(f"check it with: tenantproof verify {certificate}")
    return 0


def auditor_key_file(home: Home, tenant: str, out: Path) -> Path:
    """Write the key file an auditor of one tenant needs for ``verify --key-file``: that
    tenant's encryption key alone, owner-readable only. Refused, naming the reason, for a tenant
    with no encryption key (its class does not encrypt, or it was deleted) or an existing file."""
    from exports.encryption import KEY_STORE
    from exports.verify import load_tenant_keys

    store = home.keys / KEY_STORE
    keys = load_tenant_keys(store) if store.exists() else {}
    if tenant not in keys:
        raise SystemExit(
            f"tenant {tenant} has no encryption key in {store}: its bundles are not encrypted "
            "(or the tenant was deleted)"
        )
    if out.exists():
        raise SystemExit(f"{out} exists: not overwritten")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({tenant: keys[tenant]}, fh)
    return out


def cmd_auditor_key(args: argparse.Namespace) -> int:
    out = auditor_key_file(_home(args), args.tenant, args.out)
    print(f"{out}: the encryption key of tenant {args.tenant} alone, for `verify --key-file`")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Imports only the verifier (stdlib, pyarrow, cryptography): it opens nothing of the home."""
    from exports.verify import main as verify_main

    key = ["--public-key", str(args.public_key)] if args.public_key else []
    key += ["--key-file", str(args.key_file)] if args.key_file else []
    key += ["--complete"] if args.complete else []
    return verify_main([str(args.path), *key])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tenantproof", description=__doc__.split("\n")[0])
    p.add_argument("--home", type=Path, help=f"data home (default ${HOME_ENV} or ./data)")
    sub = p.add_subparsers(dest="command", required=True)

    def data_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--tenants", type=int, default=12)
        sp.add_argument("--events", type=int, default=5000)
        sp.add_argument("--seed", type=int, default=7)

    g = sub.add_parser("generate", help="write seeded demo landing files")
    data_args(g)
    g.set_defaults(func=cmd_generate)
    b = sub.add_parser("build", help="ingest new landing files and build the dbt project")
    b.add_argument(
        "--as-of",
        help="freshness and drift as of this UTC time, YYYY-MM-DD[ HH:MM[:SS]] "
        "(default TENANTPROOF_AS_OF or now)",
    )
    b.set_defaults(func=cmd_build)
    e = sub.add_parser("export", help="stage, validate and publish tenant bundles")
    e.add_argument(
        "--period", action="append", help="YYYY-MM (repeatable; default: last complete month)"
    )
    e.add_argument("--all-periods", action="store_true", help="every complete month with data")
    e.add_argument("--tenant", action="append", help="tenant id (repeatable; default: all)")
    e.set_defaults(func=cmd_export)
    d = sub.add_parser("demo", help="generate, build and export every tenant's bundles")
    data_args(d)
    d.set_defaults(func=cmd_demo)
    bn = sub.add_parser("bench", help="the pipeline against the floor on seeded data")
    bn.add_argument("--events", type=int, help="default 10,000,000 (1,000,000 with --quick)")
    bn.add_argument("--tenants", type=int, help="default 1,000")
    bn.add_argument("--quick", action="store_true", help="1M events x 1,000 tenants")
    bn.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit (default 4GB)")
    bn.add_argument("--workdir", help="scratch home for the run (default: beside the data home)")
    bn.set_defaults(func=cmd_bench)
    s = sub.add_parser("summary", help="row reconciliation, quarantine and published bundles")
    s.set_defaults(func=cmd_summary)
    v = sub.add_parser("verify", help="verify a bundle, a folder of bundles or a certificate")
    v.add_argument("path", type=Path)
    v.add_argument("--public-key", type=Path, help="the platform's export_public_key.pem")
    v.add_argument("--key-file", type=Path, help="JSON {tenant_id: hex key} for encrypted files")
    v.add_argument(
        "--complete",
        action="store_true",
        help="each tenant's earliest bundle must be its chain's first (no older period removed)",
    )
    v.set_defaults(func=cmd_verify)
    ak = sub.add_parser(
        "auditor-key", help="write one tenant's encryption key file for its auditor's verify"
    )
    ak.add_argument("tenant")
    ak.add_argument("--out", type=Path, required=True, help="the key file to create (0600)")
    ak.set_defaults(func=cmd_auditor_key)
    dt = sub.add_parser("delete-tenant", help="delete a tenant everywhere, with a certificate")
    dt.add_argument("tenant")
    dt.add_argument("--reason", required=True, help="why (goes into the certificate)")
    dt.add_argument("--requested-by", help="who asked (default: the current user)")
    dt.set_defaults(func=cmd_delete_tenant)
    from tenantproof.policy_cli import add_commands  # artefacts, release-gate, ...

    add_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from tenantproof.engine import UnknownEngine, engine_name

    try:
        engine_name()
    except UnknownEngine as error:
        print(f"tenantproof: {error}", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
