"""`tenantproof sources`: the mapping author's loop (docs/SOURCES.md). ``list`` shows every
source mapping with the files it matches; ``check FILE`` reads one file through a mapping and
prints what ingest would do with it, loading nothing. Kept apart from main.py, which adds them
with one call."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The exit code of a mapping file that is refused.
BAD_MAPPING = 3


def checked_mappings(settings):
    """The home's mappings, each checked; a bad one stops the command before any work, named.
    The home is exported for the Dagster definitions, so their graph has its mappings."""
    import os

    from tenantproof.core.settings import HOME_ENV
    from tenantproof.ingest.mapping import MappingError, load_mappings

    try:
        mappings = load_mappings(settings.home)
    except MappingError as error:
        print(f"tenantproof: source mapping refused: {error}", file=sys.stderr)
        raise SystemExit(BAD_MAPPING) from None
    os.environ[HOME_ENV] = str(settings.home.root)
    return mappings


def _mappings(args: argparse.Namespace):
    return checked_mappings(args.settings)


def cmd_sources_list(args: argparse.Namespace) -> int:
    from tenantproof.ingest.landing import scan_landing

    mappings = _mappings(args)
    landing = args.settings.home.landing
    rows = []
    for m in mappings:
        scan = scan_landing(landing, m, mappings)
        rows.append(
            {
                "source": m.name,
                "version": m.version,
                "entity": m.entity.name,
                "attribution": m.attribution_mode,
                "files_matched": len(scan.files),
                "reads": [f"{r.files} ({r.format})" for r in m.reads],
                "mapping": str(m.file),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'source':<24}{'entity':<24}{'version':>7}{'files':>7}  {'attribution':<17}reads")
    for r in rows:
        print(
            f"{r['source']:<24}{r['entity']:<24}{r['version']:>7}{r['files_matched']:>7}  "
            f"{r['attribution']:<17}{'; '.join(r['reads'])}"
        )
    print(f"landing: {landing}")
    return 0


def cmd_sources_check(args: argparse.Namespace) -> int:
    from tenantproof.core.policy import load_policy
    from tenantproof.ingest.dryrun import check_file, matching

    path = Path(args.file)
    if not path.is_file():
        print(f"tenantproof: {path}: no such file", file=sys.stderr)
        return 2
    mappings = _mappings(args)
    home = args.settings.home
    if args.source:
        chosen = [m for m in mappings if m.name == args.source]
        if not chosen:
            names = ", ".join(m.name for m in mappings)
            print(f"tenantproof: no source {args.source} (sources: {names})", file=sys.stderr)
            return 2
    else:
        chosen = matching(mappings, path, home.landing)
        if len(chosen) != 1:
            found = ", ".join(m.name for m in chosen)
            why = f"read by {found}" if chosen else "read by no source mapping"
            print(f"tenantproof: {path} is {why}: name one with --source", file=sys.stderr)
            return 2
    result = check_file(
        path,
        chosen[0],
        home.landing,
        load_policy(),
        warehouse=home.warehouse,
        tenant=args.tenant,
        limit=args.rows,
    )
    if args.json:
        print(json.dumps(result.as_json(), indent=2, default=str, ensure_ascii=False))
        return 0
    print(f"{path}: source {result.source} v{result.version} -> {result.entity} ({result.format})")
    if result.warehouse is None:
        print("  no warehouse yet: every tenant is unknown (run `tenantproof build` first)")
    quarantined = sum(result.quarantined.values())
    print(f"  read {result.read}, would load {result.loaded}, would quarantine {quarantined}")
    if result.refused:
        print(f"  the whole file is refused: {result.refused}")
    for code, n in result.quarantined.items():
        print(f"    {code}: {n}")
    if result.missing_keys:
        print("  tenant keys not in tenant_source_accounts:")
        for key, n in result.missing_keys.items():
            print(f"    {key}: {n} row(s)")
    if result.unmapped_fields:
        print("  fields no expression reads (kept as JSON): " + ", ".join(result.unmapped_fields))
    for row in result.rows:
        shown = {k: v for k, v in row.items() if v is not None}
        print("  line " + json.dumps(shown, default=str, ensure_ascii=False))
    for problem in result.problems:
        print(f"  line {problem['line']}: {problem['reason_code']}: {problem['reason']}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sources", help="the source mappings: list them, dry-run a file")
    ssub = s.add_subparsers(dest="sources_command", required=True)
    sl = ssub.add_parser("list", help="every source mapping, its entity and the files it reads")
    sl.add_argument("--json", action="store_true", help="one JSON array")
    sl.set_defaults(func=cmd_sources_list)
    sc = ssub.add_parser(
        "check", help="read FILE through its mapping and show what would load (loads nothing)"
    )
    sc.add_argument("file", help="a landing file, or any file named like one")
    sc.add_argument("--source", help="the mapping to read it with (default: the one matching)")
    sc.add_argument(
        "--tenant",
        help="the tenant whose delivery folder the file would be in (tenant: delivery_folder)",
    )
    sc.add_argument("--rows", type=int, default=5, help="mapped rows shown (default 5)")
    sc.add_argument("--json", action="store_true", help="one JSON object")
    sc.set_defaults(func=cmd_sources_check)
