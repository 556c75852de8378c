"""freshness_report.html: each bundle's offline page of its tenant's evidence freshness and the
drift flags that affect it.

One scoped read per relation for every tenant of the run (the tenant scope layer, like the data
files), then one page per bundle. The page is self-contained: inline CSS, no script, and a
Content-Security-Policy that forbids loading anything, so it opens the same on an auditor's
offline machine. Before it is written, the page is checked for any other tenant's identifier;
one found stops the export like any other cross-tenant read.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from exports.bundle import StagedBundle
from exports.contract import FRESHNESS_REPORT, Recogniser
from exports.scope import TenantScope, tenant_identifiers
from tenantproof.core.catalog import vocabulary_columns
from tenantproof.core.drift_text import flag_sentence

STATUS_ORDER = {"missing": 0, "stale": 1, "fresh": 2}
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:2rem;
color:#1f2933;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:1.75rem 0 .5rem}
.meta{color:#52606d;margin:0 0 1rem}
.cards{display:flex;gap:.75rem;flex-wrap:wrap}
.card{border:1px solid #d9e2ec;border-radius:6px;padding:.5rem .9rem;min-width:7rem}
.card b{display:block;font-size:1.4rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #e4e7eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f7fa}
.badge{display:inline-block;border-radius:4px;padding:0 .45rem;font-weight:600}
.fresh{background:#e3f9e5;color:#05400a}.stale{background:#fff3c4;color:#8d2b0b}
.missing{background:#ffe3e3;color:#610316}
.critical,.high{color:#610316;font-weight:600}
footer{margin-top:2rem;color:#7b8794;font-size:.8rem}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _days(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def render_report(
    tenant: dict[str, Any],
    period: str,
    freshness: Sequence[dict[str, Any]],
    flags: Sequence[dict[str, Any]],
) -> str:
    """The page for one tenant and bundle period, from that tenant's rows only."""
    controls = sorted(freshness, key=lambda r: (STATUS_ORDER.get(r["status"], 9), r["control_id"]))
    flags = sorted(
        flags, key=lambda r: (SEVERITY_ORDER.get(r["severity"], 9), r["kind"], r["detected_at"])
    )
    as_of = max((r["as_of"] for r in controls), default=None)
    counts = {s: sum(r["status"] == s for r in controls) for s in STATUS_ORDER}
    control_rows = "".join(
        "<tr>"
        f"<td>{_e(r['control_id'])}</td><td>{_e(r['family'])}</td><td>{_e(r['title'])}</td>"
        f'<td><span class="badge {_e(r["status"])}">{_e(r["status"])}</span></td>'
        f"<td>{_when(r['last_evidence_at'])}</td>"
        f"<td>{_e(_origin(r))}</td>"
        f"<td>{_days(r['age_days'])}</td><td>{_e(r['freshness_sla_days'])}</td>"
        "</tr>"
        for r in controls
    )
    flag_rows = "".join(
        "<tr>"
        f'<td>{_e(r["kind"])}</td><td class="{_e(r["severity"])}">{_e(r["severity"])}</td>'
        f"<td>{_e(r['scope'])}{_e(' (' + r['global_scope'] + ')' if r['global_scope'] else '')}"
        f"</td><td>{_e(r['subject'])}</td><td>{_when(r['detected_at'])}</td>"
        f"<td>{_e(flag_sentence(r))}</td>"
        "</tr>"
        for r in flags
    )
    flags_html = (
        "<table><thead><tr><th>Kind</th><th>Severity</th><th>Scope</th><th>Subject</th>"
        f"<th>Detected (UTC)</th><th>Evidence</th></tr></thead><tbody>{flag_rows}</tbody></table>"
        if flags
        else "<p>No open drift flags.</p>"
    )
    name = f"{tenant['tenant_name']} ({tenant['tenant_id']})"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Evidence freshness - {_e(name)} - {_e(period)}</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>Evidence freshness and drift</h1>"
        f'<p class="meta">Tenant <b>{_e(name)}</b> &middot; class {_e(tenant["tenant_class"])}'
        f" &middot; region {_e(tenant['residency_region'])} &middot; bundle period "
        f"{_e(period)} &middot; as of {_when(as_of)} UTC</p>"
        '<div class="cards">'
        f'<div class="card"><b>{counts["fresh"]}</b>fresh</div>'
        f'<div class="card"><b>{counts["stale"]}</b>stale</div>'
        f'<div class="card"><b>{counts["missing"]}</b>missing</div>'
        f'<div class="card"><b>{len(flags)}</b>drift flags</div></div>'
        "<h2>Controls that apply to this tenant</h2>"
        "<table><thead><tr><th>Control</th><th>Family</th><th>Title</th><th>Status</th>"
        "<th>Last evidence (UTC)</th><th>Origin</th><th>Age (days)</th><th>SLA (days)</th>"
        f"</tr></thead><tbody>{control_rows}</tbody></table>"
        f"<h2>Drift flags affecting this tenant</h2>{flags_html}"
        "<footer>Freshness and drift as of the warehouse build shown above, not as of the end "
        "of the bundle period. The SLA is the stricter of the control's and the tenant "
        "class's freshness requirement. This page holds this tenant's data only and loads "
        "nothing from the network.</footer></body></html>\n"
    )


def _origin(row: dict[str, Any]) -> str:
    if row["last_evidence_origin"] == "shared_service":
        return f"shared service {row['last_evidence_service_id']}"
    return "own" if row["last_evidence_origin"] == "tenant" else "-"


def write_freshness_reports(
    scope: TenantScope, bundles: Sequence[StagedBundle]
) -> dict[str, list[str]]:
    """Write and register each staged bundle's report (so the manifest hashes it). Returns, per
    bundle (StagedBundle.key) whose page names another tenant, the identifiers it names: the
    isolation suite judges them with the bundle's files (exports.validation), so such a bundle
    is withheld and the others go ahead."""
    registry = {r["tenant_id"]: r for r in scope.read("registry").to_pylist()}
    freshness: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in scope.read("freshness").to_pylist():
        freshness[row["tenant_id"]].append(row)
    flags: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in scope.read("drift_flags").to_pylist():
        flags[row["tenant_id"]].append(row)
    index = Recogniser(tenant_identifiers(scope.con))
    vocabulary = vocabulary_columns()
    mentions: dict[str, list[str]] = {}
    for bundle in bundles:
        tenant = bundle.tenant_id
        page = render_report(registry[tenant], bundle.period, freshness[tenant], flags[tenant])
        # Judged on what the tenant's data put on the page (the rows' text, scrubbed by dbt),
        # not on the product's own words around it: a tenant called "eu" or "2026-10" must
        # not find itself in every page that states a region or a period.
        named = [
            found
            for row in (registry[tenant], *freshness[tenant], *flags[tenant])
            for column, value in row.items()
            if isinstance(value, str) and column != "tenant_id" and column not in vocabulary
            for found in index.foreign_mentions(value, tenant)
        ]
        if named:
            mentions[bundle.key] = named
        path = bundle.path / FRESHNESS_REPORT
        path.write_text(page, encoding="utf-8")
        bundle.files[FRESHNESS_REPORT] = path
    return mentions
