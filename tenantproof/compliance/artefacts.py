"""The five compliance artefacts of spec §4, under ``docs/compliance/``.

The Tenant Policy Matrix (§4.2) and the Shared Service Boundary Register (§4.4) are generated
from the seeds (``tenantproof artefacts``), so they cannot drift from what is enforced: the
release gate regenerates them in memory and compares. The other three are written by hand and
name the policy version they were written against (and the claim its date), which the gate reads.

File names follow the spec: ``YYYY-MM-DD__SaaS-Build__<Artefact>__vX.Y__source.md``. A generated
artefact keeps its file (date and version) while its content is unchanged; a change writes a new
file dated today with the minor version bumped and retires the old one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tenantproof.core.home import PROJECT_DIR, SEEDS_DIR
from tenantproof.core.policy import CADENCES, Policy, load_policy, read_seed

COMPLIANCE_DIR = PROJECT_DIR / "docs" / "compliance"
TIC = "Tenant-Isolation-Claim"
TPM = "Tenant-Policy-Matrix"
TAES = "Tenant-Audit-Export-Spec"
SSBR = "Shared-Service-Boundary-Register"
THREAT = "Threat-Model__Multi-Tenant-Addendum"
ARTEFACTS = (TIC, TPM, TAES, SSBR, THREAT)
GENERATED = (TPM, SSBR)
NAME_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})__SaaS-Build__(?P<artefact>.+)__v(?P<major>\d+)\.(?P<minor>\d+)"
    r"__source\.md$"
)
# Lines a hand-written artefact carries in its header, read by the release gate.
POLICY_VERSION_RE = re.compile(r"^Policy version:\s*`?(sha256:[0-9a-f]+)`?\s*$", re.M)
CLAIM_DATE_RE = re.compile(r"^Date:\s*(\d{4}-\d{2}-\d{2})\s*$", re.M)
# What the matrix must state for every class (spec §4.2), as row labels of its table.
MATRIX_POLICIES = (
    "Retention policy",
    "Residency policy",
    "Encryption policy",
    "Access policy",
    "Audit export policy",
    "Incident notification policy",
    "Evidence freshness",
    "DPA notes",
)


@dataclass(frozen=True)
class ArtefactFile:
    path: Path
    artefact: str
    day: date
    version: tuple[int, int]


def artefact_files(folder: Path, artefact: str) -> list[ArtefactFile]:
    """Every file of one artefact, oldest first (by date, then version)."""
    out = []
    for path in folder.glob(f"*__SaaS-Build__{artefact}__v*__source.md"):
        m = NAME_RE.match(path.name)
        if m and m["artefact"] == artefact:
            day = date.fromisoformat(m["date"])
            out.append(ArtefactFile(path, artefact, day, (int(m["major"]), int(m["minor"]))))
    return sorted(out, key=lambda f: (f.day, f.version))


def current(folder: Path, artefact: str) -> ArtefactFile | None:
    files = artefact_files(folder, artefact)
    return files[-1] if files else None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip() or "-"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _class_policies(policy: Policy, cls: str) -> dict[str, str]:
    row = policy.classes[cls]
    methods = policy.redaction[row["redaction_profile"]]
    formats = row["export_formats"].split("|")
    if policy.encryption_required(cls):
        csv_mode = policy.csv_encryption(cls)
        encryption = (
            "required: Parquet files encrypted with Parquet modular encryption (AES_GCM_V1, "
            "data key wrapped with the tenant's own key); CSV files "
            + ("left out of the bundle" if csv_mode == "omit" else f"encrypted ({csv_mode})")
            + "; each file proven to decrypt to the validated rows before the manifest; the "
            "manifest marks each file encrypted with its scheme"
        )
    else:
        encryption = "not required: files published unencrypted inside the tenant's region root"
    return {
        "Retention policy": f"{row['retention_days']} days; older rows purged daily "
        "(retention_purge), a signed purge record per tenant",
        "Residency policy": "allowed regions: "
        + ", ".join(row["allowed_regions"].split("|"))
        + "; bundles only under the tenant's region exports root",
        "Encryption policy": encryption,
        "Access policy": "bundles delivered only to: "
        + ", ".join(policy.recipients(cls))
        + "; every delivery recorded in the tenant's access history",
        "Audit export policy": f"cadence {row['export_cadence']} (cron "
        f"`{CADENCES[row['export_cadence']]}`); formats {', '.join(formats)}; redaction "
        f"profile {row['redaction_profile']} ("
        + ", ".join(f"{c} {m}" for c, m in sorted(methods.items()))
        + "); personal data in free text redacted: "
        + (", ".join(policy.free_text_redacted(row["redaction_profile"])) or "none")
        + (
            "; kept: " + ", ".join(sorted(kept))
            if (kept := policy.free_text_kept.get(row["redaction_profile"]))
            else ""
        ),
        "Incident notification policy": f"notify each affected tenant within "
        f"{row['notification_sla_hours']} hours of detection; late or missing notices are "
        "flagged (incident_notification_overdue)",
        "Evidence freshness": f"default {row['evidence_freshness_days']} days; per family: "
        + ", ".join(
            f"{fam} {days}"
            for (c, fam), days in sorted(policy.family_freshness.items())
            if c == cls
        ),
        "DPA notes": row.get("dpa_notes", ""),
    }


def render_policy_matrix(policy: Policy) -> str:
    """The Tenant Policy Matrix (spec §4.2), deterministic for a given policy."""
    classes = sorted(policy.classes)
    per_class = {c: _class_policies(policy, c) for c in classes}
    lines = [
        "# Tenant Policy Matrix (spec §4.2)",
        "",
        f"Policy version: `{policy.version}`",
        "",
        "Generated by `tenantproof artefacts` from `seeds/tenant_class_policies.csv`, "
        "`seeds/redaction_rules.csv`, `seeds/free_text_pii_rules.csv`, "
        "`seeds/freshness_by_family.csv` and `seeds/regions.csv`. "
        "Do not edit: the release gate regenerates it and blocks when the file differs.",
        "",
        "The same files drive enforcement: ingest (allowed regions), dbt (redaction, freshness, "
        "drift flags, incident deadlines), export (encryption, residency roots), delivery "
        "(recipients), the retention purge and the export schedules. No code branches on a "
        "class name.",
        "",
        f"Classes: {', '.join(classes)}.",
        "",
    ]
    for cls in classes:
        lines += [f"## Class `{cls}`", ""]
        lines += _table(
            ["Policy", "Enforced rule"], [[k, per_class[cls][k]] for k in MATRIX_POLICIES]
        )
        lines.append("")
    lines += ["## Regions and exports roots", ""]
    lines += _table(
        ["Region", "Exports root variable", "Default root", "Description"],
        [
            [r, row.get("export_root_env", ""), f"<home>/exports/{r}", row.get("description", "")]
            for r, row in sorted(policy.regions.items())
        ],
    )
    lines.append("")
    return "\n".join(lines)


def render_register(policy: Policy, seeds_dir: Path = SEEDS_DIR) -> str:
    """The Shared Service Boundary Register (spec §4.4) from seeds/shared_services.csv."""
    inherited = read_seed(seeds_dir / "control_inheritance.csv")
    lines = [
        "# Shared Service Boundary Register (spec §4.4)",
        "",
        f"Policy version: `{policy.version}`",
        "",
        "Generated by `tenantproof artefacts` from `seeds/shared_services.csv` and "
        "`seeds/control_inheritance.csv`. Do not edit: the release gate regenerates it and "
        "blocks when the file differs. The applicability rule is what the dbt model "
        "`int_shared_services_applied` uses to fan a service's evidence out to tenants.",
        "",
    ]
    lines += _table(
        [
            "Service",
            "Capability",
            "Data handled",
            "Tenant attribution possible",
            "Risk",
            "Compensating controls",
            "Applies to",
        ],
        [
            [
                s["service_id"],
                s["capability"],
                s["data_handled"],
                s["tenant_attribution_possible"],
                s["risk_class"],
                s["compensating_controls"],
                s["applies_to_kind"]
                + (
                    f": {s['applies_to_value'].replace('|', ', ')}" if s["applies_to_value"] else ""
                ),
            ]
            for s in sorted(policy.services, key=lambda s: s["service_id"])
        ],
    )
    lines += ["", "## Controls a service's evidence may stand for", ""]
    lines += _table(
        ["Control", "Service", "Rationale"],
        [
            [r["control_id"], r["service_id"], r["rationale"]]
            for r in sorted(inherited, key=lambda r: (r["control_id"], r["service_id"]))
        ],
    )
    lines.append("")
    return "\n".join(lines)


def generated_content(policy: Policy, seeds_dir: Path = SEEDS_DIR) -> dict[str, str]:
    return {TPM: render_policy_matrix(policy), SSBR: render_register(policy, seeds_dir)}


def write_generated(
    folder: Path = COMPLIANCE_DIR, seeds_dir: Path = SEEDS_DIR, today: date | None = None
) -> dict[str, tuple[Path, bool]]:
    """Write the generated artefacts; returns artefact -> (file, changed)."""
    policy = load_policy(seeds_dir)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for artefact, text in generated_content(policy, seeds_dir).items():
        existing = current(folder, artefact)
        if existing and existing.path.read_text(encoding="utf-8") == text:
            out[artefact] = (existing.path, False)
            continue
        major, minor = existing.version if existing else (1, -1)
        day = (today or date.today()).isoformat()
        path = folder / f"{day}__SaaS-Build__{artefact}__v{major}.{minor + 1}__source.md"
        path.write_text(text, encoding="utf-8")
        for old in artefact_files(folder, artefact):
            if old.path != path:
                old.path.unlink()
        out[artefact] = (path, True)
    return out
