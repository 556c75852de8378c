"""`tenantproof`: everything a person runs outside the Dagster UI.

The argparse front end only: each command resolves the settings once (``--home`` over
``TENANTPROOF_HOME`` over ``./data``) and calls the pipeline API (``orchestration.runner``),
which runs the same Dagster definitions as `dagster dev`, in process, against the instance in
the data home, so the runs appear in the UI afterwards. Nothing imports this module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from tenantproof.core.settings import HOME_ENV, SettingError, Settings


def settings_of(args: argparse.Namespace) -> Settings:
    """The command's settings, resolved once by ``main``: its flags over the environment over
    the defaults."""
    return Settings.from_environment(home=args.home, as_of=getattr(args, "as_of", None))


def cmd_generate(args: argparse.Namespace) -> int:
    from tenantproof.demo.generate import generate

    home = args.settings.home.ensure()
    summary = generate(home.root, tenants=args.tenants, events=args.events, seed=args.seed)
    print(
        f"generated {summary.tenants} tenants, {summary.audit_events} audit events, "
        f"{summary.access_history} access rows, {summary.evidence_events} evidence rows "
        f"under {home.landing}"
    )
    print("planted problems: " + ", ".join(f"{k}={v}" for k, v in sorted(summary.planted.items())))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from orchestration import runner
    from tenantproof.cli.source_commands import checked_mappings
    from tenantproof.ingest.landing import unclaimed_files

    settings = args.settings
    mappings = checked_mappings(settings)
    runner.build(settings)
    print(runner.summary(settings.home))
    unread = unclaimed_files(settings.home.landing, mappings)
    if unread:
        print(f"not read: {len(unread)} landing file(s) (see `tenantproof sources list`):")
        for line in unread[:20]:
            print(f"  {line}")
        if len(unread) > 20:
            print(f"  ... and {len(unread) - 20} more")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from orchestration import runner
    from tenantproof.core.periods import last_complete_period

    settings = args.settings
    home = settings.home.ensure()
    last = last_complete_period(datetime.now(UTC).date())
    periods = args.period or (
        [last] if not args.all_periods else runner.available_periods(home, last)
    )
    runner.export(settings, periods, args.tenant)
    print(runner.summary(home, args.tenant))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration import runner
    from tenantproof.core.periods import last_complete_period

    settings = args.settings
    started = datetime.now(UTC)
    cmd_generate(args)
    runner.build(settings)
    periods = runner.available_periods(settings.home, last_complete_period(started.date()))
    runner.export(settings, periods, None)
    runner.build(settings)  # again: the analytics snapshot sees the bundles (maturity level 2)
    print(runner.summary(settings.home))
    seconds = (datetime.now(UTC) - started).total_seconds()
    print(f"demo finished in {seconds:.0f} s; `make dev` opens the asset graph on this home")
    print("`make dashboard` shows evidence freshness, drift flags and maturity per tenant")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from orchestration import runner

    print(runner.summary(args.settings.home.ensure()))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from orchestration import runner

    lines = runner.doctor(args.settings, clean=args.clean)
    for line in lines:
        print(line)
    if not lines:
        print("nothing left behind by earlier runs; every tenant's index is current")
    elif not args.clean:
        print("`tenantproof doctor --clean` removes them")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from tenantproof.bench import benchmark as bench

    events, tenants = bench.QUICK if args.quick else bench.DEFAULT
    events = args.events or events
    tenants = args.tenants or tenants
    workdir = Path(args.workdir or (args.settings.home.root.parent / "bench-home")).resolve()
    result = bench.run(
        events, tenants, workdir, memory_limit=args.memory_limit, engine=args.settings.engine
    )
    print(bench.report(result))
    print(f"results: {bench.save(result)}")
    return 0


def cmd_delete_tenant(args: argparse.Namespace) -> int:
    import getpass

    from orchestration import runner

    try:
        who = args.requested_by or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        who = "unknown"
    certificate = runner.delete_tenant(args.settings, args.tenant, args.reason, who)
    print(f"tenant {args.tenant} deleted; signed certificate: {certificate}")
    print(f"check it with: tenantproof verify {certificate}")
    return 0


def cmd_auditor_key(args: argparse.Namespace) -> int:
    from exports.encryption import auditor_key_file

    out = auditor_key_file(args.settings.home, args.tenant, args.out)
    print(f"{out}: the encryption key of tenant {args.tenant} alone, for `verify --key-file`")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """The auditor's verifier (stdlib, pyarrow, cryptography). Run on the platform with no key
    pinned, it pins this home's own signing key (derived from the private key, never the copy
    shipped in a bundle), so an operator checks what the platform itself signed."""
    from exports.verify import main as verify_main

    forwarded = [str(args.path)]
    for flag, value in (
        ("--public-key", args.public_key),
        ("--key-sha256", args.key_sha256),
        ("--state", args.state),
        ("--key-file", args.key_file),
    ):
        forwarded += [flag, str(value)] if value else []
    forwarded += ["--complete"] if args.complete else []
    if not (args.public_key or args.key_sha256 or args.state):
        own = home_key_sha256(args.settings)
        if own is not None:
            print(f"pinned: this home's signing key (sha256 {own[:16]})")
            forwarded += ["--key-sha256", own]
    return verify_main(forwarded)


def home_key_sha256(settings: Settings) -> str | None:
    """The sha256 of the public half of the home's signing key, when the home has one."""
    path = settings.home.signing_key_path
    if not path.is_file():
        return None
    from exports.signing import LocalSigningKey, signing_fields

    return signing_fields(LocalSigningKey(path), "manifest.json")["public_key_sha256"]


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
    dr = sub.add_parser(
        "doctor", help="find (--clean: remove) what killed runs left; reconcile tenant indexes"
    )
    dr.add_argument("--clean", action="store_true", help="remove the leftovers found")
    dr.set_defaults(func=cmd_doctor)
    v = sub.add_parser("verify", help="verify a bundle, a folder of bundles or a certificate")
    v.add_argument("path", type=Path)
    v.add_argument("--public-key", type=Path, help="the platform's export_public_key.pem")
    v.add_argument("--key-sha256", help="or the sha256 of the platform's raw public key")
    v.add_argument(
        "--state", type=Path, help="the auditor's state file: pinned key, index sequences seen"
    )
    v.add_argument("--key-file", type=Path, help="JSON {tenant_id: hex key} for encrypted files")
    v.add_argument(
        "--complete",
        action="store_true",
        help="every period of each tenant's index, each chain back to its first bundle",
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
    from tenantproof.cli.policy_commands import add_commands  # artefacts, release-gate, ...
    from tenantproof.cli.source_commands import add_commands as add_source_commands

    add_commands(sub)
    add_source_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:  # a bad setting (engine, as-of time) stops here, before any work
        args.settings = settings_of(args)
    except SettingError as error:
        print(f"tenantproof: {error}", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
