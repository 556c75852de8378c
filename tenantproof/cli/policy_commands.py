"""`tenantproof` commands of the policy matrix: artefacts, release-gate, deliver,
purge-retention. Kept apart from main.py, which adds them with one call."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tenantproof.compliance.release_gate import DEFAULT_MAX_AGE_DAYS


def cmd_artefacts(args: argparse.Namespace) -> int:
    from tenantproof.compliance.artefacts import COMPLIANCE_DIR, write_generated

    folder = Path(args.folder) if args.folder else COMPLIANCE_DIR
    for artefact, (path, changed) in write_generated(folder).items():
        print(f"{artefact}: {'written' if changed else 'unchanged'} {path}")
    return 0


def cmd_release_gate(args: argparse.Namespace) -> int:
    from tenantproof.compliance.artefacts import COMPLIANCE_DIR
    from tenantproof.compliance.release_gate import release_gate, run_leakage_tests, scratch_export

    result = release_gate(
        folder=Path(args.folder) if args.folder else COMPLIANCE_DIR,
        max_age_days=args.max_age_days,
        export_probe=None if args.skip_export else scratch_export,
        test_runner=None if args.skip_tests else run_leakage_tests,
    )
    skipped = [f"SKIPPED: {condition}" for condition in result.skipped]
    if not result.ok:
        # stdout stays one line per reason; what was not checked goes beside it, on stderr
        for reason in result.reasons:
            print(f"BLOCKED: {reason}")
        for line in skipped:
            print(line, file=sys.stderr)
        return 1
    for line in skipped:
        print(line)
    verdict = "release gate passed"
    if skipped:
        verdict += f" with {len(skipped)} condition(s) skipped"
    print(f"{verdict}: " + "; ".join(result.passed))
    return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    from exports.delivery import DeliveryRefused, deliver_bundles
    from tenantproof.core.policy import load_policy

    home = args.settings.home.ensure()
    try:
        done = deliver_bundles(
            home,
            load_policy(),
            tenants=args.tenant,
            periods=args.period,
            recipients=args.recipient,
        )
    except DeliveryRefused as exc:
        raise SystemExit(f"deliver: {exc}") from exc
    for d in done:
        print(f"{d.tenant_id} {d.period} -> {d.recipient}: {d.delivered_to}")
    print(
        f"{len(done)} delivery(ies), recorded in landing/access_history (loaded by the next build)"
    )
    return 0


def cmd_purge_retention(args: argparse.Namespace) -> int:
    from orchestration import runner
    from orchestration.resources import build_resources

    settings = args.settings
    config = {"as_of": args.as_of} if args.as_of else {}
    with runner.instance(settings.home.ensure()) as dagster:
        result = runner.run_job(
            dagster,
            "retention_purge_job",
            "retention purge",
            op_config={"retention_purge": config},
            resources=build_resources(settings),
        )
        meta = result.asset_materializations_for_node("retention_purge")[0].metadata
    print(f"purged {meta['rows_purged'].value} row(s): {meta['rows_purged_by_tenant'].value}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("artefacts", help="regenerate the policy matrix and the service register")
    a.add_argument("--folder", help="default docs/compliance")
    a.set_defaults(func=cmd_artefacts)
    g = sub.add_parser("release-gate", help="spec §7: block a release on missing evidence")
    g.add_argument("--folder", help="default docs/compliance")
    g.add_argument("--max-age-days", type=int, default=DEFAULT_MAX_AGE_DAYS)
    g.add_argument("--skip-export", action="store_true", help="skip the scratch export")
    g.add_argument("--skip-tests", action="store_true", help="skip the leakage tests")
    g.set_defaults(func=cmd_release_gate)
    d = sub.add_parser("deliver", help="hand published bundles to allowed recipients")
    d.add_argument("--tenant", action="append", help="tenant id (repeatable; default: all)")
    d.add_argument("--period", action="append", help="YYYY-MM (repeatable; default: all)")
    d.add_argument("--recipient", action="append", help="default: every allowed recipient")
    d.set_defaults(func=cmd_deliver)
    r = sub.add_parser("purge-retention", help="purge rows past each class's retention window")
    r.add_argument("--as-of", help="YYYY-MM-DD[ HH:MM[:SS]] (default TENANTPROOF_AS_OF or now)")
    r.set_defaults(func=cmd_purge_retention)
