"""The tenant policy matrix, read from the same seed files dbt loads (DESIGN principle 2).

No code branches on a class name: everything a class changes is a row in ``seeds/``.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tenantproof.core.catalog import free_text_kinds
from tenantproof.core.home import SEEDS_DIR

POLICY_FILES = (
    "tenant_class_policies.csv",
    "redaction_rules.csv",
    "free_text_pii_rules.csv",
    "controls.csv",
    "shared_services.csv",
    # Drift and freshness rules: they shape each bundle's freshness_report.html.
    "control_inheritance.csv",
    "change_actions.csv",
    "drift_kinds.csv",
    # Regions (residency roots) and evidence freshness per class x control family.
    "regions.csv",
    "freshness_by_family.csv",
)
REDACTION_METHODS = ("keep", "hash", "mask", "drop")
# What a profile does with each kind of personal data found in free text
# (dbt_project.yml vars.free_text_pii): a kind a profile does not name is redacted.
FREE_TEXT_METHODS = ("redact", "keep")
# The export cadences a class may name, and the cron each one runs on (orchestration.schedules).
# weekly: the 1st (the new month's bundle, as monthly) or any Monday (cron ORs the two fields).
CADENCES = {"monthly": "0 6 1 * *", "weekly": "0 6 1 * 1"}
EXPORT_FORMATS = ("parquet", "csv")
# How a class's CSVs travel when encryption is required: encrypted (exports/encryption.py) or left
# out of the bundle; "none" only for classes that do not require encryption.
CSV_ENCRYPTION = ("none", "aes-256-gcm", "omit")
BOOLEANS = ("true", "false")
CLASS_FIELDS = (
    "tenant_class",
    "redaction_profile",
    "retention_days",
    "allowed_regions",
    "encryption_required",
    "export_cadence",
    "export_formats",
    "export_recipients",
    "notification_sla_hours",
    "evidence_freshness_days",
    "dpa_notes",
    "csv_encryption",
)

# The columns each file the loader reads must have; a file without one is refused naming the file
# and the field (dpa_notes and the applicability columns may be left out).
REQUIRED_COLUMNS = {
    "tenant_class_policies.csv": tuple(f for f in CLASS_FIELDS if f != "dpa_notes"),
    "redaction_rules.csv": ("redaction_profile", "column_name", "method"),
    "free_text_pii_rules.csv": ("redaction_profile", "pii_kind", "method"),
    "controls.csv": ("control_id", "family", "title", "freshness_days"),
    "shared_services.csv": (
        "service_id",
        "capability",
        "data_handled",
        "tenant_attribution_possible",
        "risk_class",
        "compensating_controls",
        "applies_to_kind",
    ),
    "regions.csv": ("region", "export_root_env"),
    "freshness_by_family.csv": ("tenant_class", "family", "freshness_days"),
}


class PolicyError(ValueError):
    """A policy file is invalid; the message names the file, the row and the field."""


@dataclass(frozen=True)
class Policy:
    classes: dict[str, dict[str, str]]  # tenant_class -> row
    redaction: dict[str, dict[str, str]]  # profile -> {column: method}
    controls: list[dict[str, str]]
    services: list[dict[str, str]]
    version: str
    regions: dict[str, dict[str, str]] = field(default_factory=dict)  # region -> row
    family_freshness: dict[tuple[str, str], int] = field(default_factory=dict)
    # The folder it was read from: what builds with this policy (dbt's seeds) must read too.
    seeds_dir: Path = SEEDS_DIR
    # profile -> the kinds of free-text personal data it keeps (every other kind is redacted)
    free_text_kept: dict[str, frozenset[str]] = field(default_factory=dict)

    def free_text_redacted(self, profile: str) -> list[str]:
        """The kinds of personal data the profile's free text must not hold, in the order the
        scrub applies them (dbt_project.yml vars.free_text_pii)."""
        kept = self.free_text_kept.get(profile, frozenset())
        return [k for k in free_text_kinds() if k not in kept]

    def profile_of(self, tenant_class: str) -> str:
        return self.classes[tenant_class]["redaction_profile"]

    def allowed_regions(self, tenant_class: str) -> set[str]:
        return set(self.classes[tenant_class]["allowed_regions"].split("|"))

    def retention_days(self, tenant_class: str) -> int:
        return int(self.classes[tenant_class]["retention_days"])

    def encryption_required(self, tenant_class: str) -> bool:
        return self.classes[tenant_class]["encryption_required"] == "true"

    def csv_encryption(self, tenant_class: str) -> str:
        return self.classes[tenant_class].get("csv_encryption") or "none"

    def recipients(self, tenant_class: str) -> list[str]:
        return self.classes[tenant_class]["export_recipients"].split("|")

    def cadence(self, tenant_class: str) -> str:
        return self.classes[tenant_class]["export_cadence"]

    def classes_with_cadence(self, cadence: str) -> list[str]:
        return sorted(c for c in self.classes if self.cadence(c) == cadence)

    def require_class(self, tenant_class: str, tenant_id: str) -> dict[str, str]:
        """The policy row of a tenant's class; a tenant whose class has none is refused, so
        that nothing runs on a half-valid policy."""
        if tenant_class not in self.classes:
            raise PolicyError(
                f"tenant {tenant_id!r}: class {tenant_class!r} has no policy in "
                "tenant_class_policies.csv"
            )
        return self.classes[tenant_class]


def read_seed(path: Path, required: Sequence[str] = ()) -> list[dict[str, str]]:
    """The rows of one seed CSV (the files dbt loads too): the one reader of ``seeds/``. A missing
    file, or a missing column of ``required``, is refused, naming the file."""
    if not path.exists():
        raise PolicyError(f"{path}: policy file is missing")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        for name in required:
            if name not in header:
                raise PolicyError(
                    f"{path}:1: field {name}: column is missing (the header names "
                    f"{', '.join(header) or 'nothing'})"
                )
        return list(reader)


def _rows(path: Path) -> list[dict[str, str]]:
    """A policy file's rows, its required columns checked."""
    return read_seed(path, REQUIRED_COLUMNS.get(path.name, ()))


def policy_version(seeds_dir: Path = SEEDS_DIR) -> str:
    """A content hash of the policy files: it changes exactly when the enforced policy does."""
    digest = hashlib.sha256()
    for name in POLICY_FILES:
        digest.update(name.encode())
        digest.update((seeds_dir / name).read_bytes())
    return "sha256:" + digest.hexdigest()[:16]


def load_policy(seeds_dir: Path = SEEDS_DIR) -> Policy:
    classes_path = seeds_dir / "tenant_class_policies.csv"
    rules_path = seeds_dir / "redaction_rules.csv"
    classes = {row["tenant_class"]: row for row in _rows(classes_path)}
    redaction: dict[str, dict[str, str]] = {}
    for line, row in enumerate(_rows(rules_path), start=2):
        if row["method"] not in REDACTION_METHODS:
            raise PolicyError(
                f"{rules_path}:{line}: profile {row['redaction_profile']!r} field method: "
                f"{row['method']!r} is not one of {', '.join(REDACTION_METHODS)}"
            )
        redaction.setdefault(row["redaction_profile"], {})[row["column_name"]] = row["method"]
    for line, (name, row) in enumerate(classes.items(), start=2):
        if row["redaction_profile"] not in redaction:
            raise PolicyError(
                f"{classes_path}:{line}: class {name!r} field redaction_profile: "
                f"{row['redaction_profile']!r} has no rules in {rules_path.name}"
            )
    free_text_kept = _load_free_text_rules(seeds_dir / "free_text_pii_rules.csv", redaction)
    regions = _load_regions(seeds_dir / "regions.csv")
    _check_classes(classes_path, _rows(classes_path), regions)
    controls = _rows(seeds_dir / "controls.csv")
    services = _rows(seeds_dir / "shared_services.csv")
    _check_references(seeds_dir, classes, regions, controls, services)
    family_freshness = _load_family_freshness(
        seeds_dir / "freshness_by_family.csv", classes, {c["family"] for c in controls}
    )
    return Policy(
        classes=classes,
        redaction=redaction,
        controls=controls,
        services=services,
        version=policy_version(seeds_dir),
        regions=regions,
        family_freshness=family_freshness,
        seeds_dir=seeds_dir,
        free_text_kept=free_text_kept,
    )


def _load_free_text_rules(
    path: Path, redaction: dict[str, dict[str, str]]
) -> dict[str, frozenset[str]]:
    """Per profile, the kinds of free-text personal data it keeps. A row naming an unknown
    profile, kind or method is refused, naming the line."""
    kinds = free_text_kinds()
    kept: dict[str, set[str]] = {profile: set() for profile in redaction}
    for line, row in enumerate(_rows(path), start=2):
        profile, kind, method = row["redaction_profile"], row["pii_kind"], row["method"]
        if profile not in redaction:
            problem = f"field redaction_profile: {profile!r} has no rules in redaction_rules.csv"
        elif kind not in kinds:
            problem = f"field pii_kind: {kind!r} is not one of {', '.join(kinds)}"
        elif method not in FREE_TEXT_METHODS:
            problem = f"field method: {method!r} is not one of {', '.join(FREE_TEXT_METHODS)}"
        else:
            if method == "keep":
                kept[profile].add(kind)
            continue
        raise PolicyError(f"{path}:{line}: {problem}")
    return {profile: frozenset(k) for profile, k in kept.items()}


def _fail(path: Path, line: int, tenant_class: str, field_name: str, problem: str) -> PolicyError:
    return PolicyError(f"{path}:{line}: class {tenant_class!r} field {field_name}: {problem}")


def _int(path: Path, line: int, cls: str, name: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise _fail(path, line, cls, name, f"{raw!r} is not a whole number") from None
    if value < minimum:
        raise _fail(path, line, cls, name, f"{value} is below {minimum}")
    return value


def load_regions(seeds_dir: Path = SEEDS_DIR) -> dict[str, dict[str, str]]:
    """The regions (seeds/regions.csv): region -> its row, with the variable that may move its
    exports root; what the settings need, without reading the whole policy."""
    return _load_regions(seeds_dir / "regions.csv")


def _load_regions(path: Path) -> dict[str, dict[str, str]]:
    regions: dict[str, dict[str, str]] = {}
    for line, row in enumerate(_rows(path), start=2):
        region = (row.get("region") or "").strip()
        if not region or region in regions:
            raise PolicyError(f"{path}:{line}: field region: {region!r} is empty or repeated")
        regions[region] = row
    return regions


def _check_classes(path: Path, rows: list[dict[str, str]], regions: dict[str, dict]) -> None:
    """Every field of every class, checked before anything runs; errors name file, class, field."""
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        cls = (row.get("tenant_class") or "").strip()
        if not cls or cls in seen:
            raise _fail(path, line, cls, "tenant_class", "empty or repeated")
        seen.add(cls)
        for name in CLASS_FIELDS:
            if name != "dpa_notes" and not (row.get(name) or "").strip():
                raise _fail(path, line, cls, name, "missing")
        _int(path, line, cls, "retention_days", row["retention_days"], 1)
        _int(path, line, cls, "notification_sla_hours", row["notification_sla_hours"], 1)
        _int(path, line, cls, "evidence_freshness_days", row["evidence_freshness_days"], 1)
        for region in row["allowed_regions"].split("|"):
            if region not in regions:
                raise _fail(
                    path,
                    line,
                    cls,
                    "allowed_regions",
                    f"unknown region {region!r} (regions.csv has {', '.join(sorted(regions))})",
                )
        if row["encryption_required"] not in BOOLEANS:
            raise _fail(
                path,
                line,
                cls,
                "encryption_required",
                f"{row['encryption_required']!r} is not true or false",
            )
        if row["export_cadence"] not in CADENCES:
            raise _fail(
                path,
                line,
                cls,
                "export_cadence",
                f"{row['export_cadence']!r} is not one of {', '.join(CADENCES)}",
            )
        formats = row["export_formats"].split("|")
        if "parquet" not in formats or any(f not in EXPORT_FORMATS for f in formats):
            raise _fail(
                path,
                line,
                cls,
                "export_formats",
                f"{row['export_formats']!r} must include parquet and name only parquet, csv",
            )
        if any(not r.strip() for r in row["export_recipients"].split("|")):
            raise _fail(path, line, cls, "export_recipients", "an empty recipient")
        csv_mode = row["csv_encryption"]
        if csv_mode not in CSV_ENCRYPTION:
            raise _fail(
                path,
                line,
                cls,
                "csv_encryption",
                f"{csv_mode!r} is not one of {', '.join(CSV_ENCRYPTION)}",
            )
        if row["encryption_required"] == "true" and "csv" in formats and csv_mode == "none":
            raise _fail(
                path,
                line,
                cls,
                "csv_encryption",
                "encryption is required, so CSVs must be encrypted or omitted",
            )


def _check_references(
    seeds_dir: Path,
    classes: dict[str, dict[str, str]],
    regions: dict[str, dict[str, str]],
    controls: list[dict[str, str]],
    services: list[dict[str, str]],
) -> None:
    """A class or region named anywhere must exist: no silently ignored rule."""
    path = seeds_dir / "controls.csv"
    for line, row in enumerate(controls, start=2):
        for cls in (row.get("applies_to_classes") or "").split("|"):
            if cls and cls not in classes:
                raise _fail(
                    path,
                    line,
                    cls,
                    "applies_to_classes",
                    f"control {row['control_id']!r} names an unknown class",
                )
    path = seeds_dir / "shared_services.csv"
    for line, row in enumerate(services, start=2):
        values = [v for v in (row.get("applies_to_value") or "").split("|") if v]
        if row.get("applies_to_kind") == "class":
            for cls in values:
                if cls not in classes:
                    raise _fail(
                        path,
                        line,
                        cls,
                        "applies_to_value",
                        f"service {row['service_id']!r} names an unknown class",
                    )
        if row.get("applies_to_kind") == "region":
            for region in values:
                if region not in regions:
                    raise PolicyError(
                        f"{path}:{line}: service {row['service_id']!r} field "
                        f"applies_to_value: unknown region {region!r}"
                    )


def _load_family_freshness(
    path: Path, classes: dict[str, dict[str, str]], families: set[str]
) -> dict[tuple[str, str], int]:
    """Evidence freshness per class x control family; every pair must be given."""
    out: dict[tuple[str, str], int] = {}
    for line, row in enumerate(_rows(path), start=2):
        cls, family = row.get("tenant_class", ""), row.get("family", "")
        if cls not in classes:
            raise _fail(path, line, cls, "tenant_class", "unknown class")
        if family not in families:
            raise _fail(path, line, cls, "family", f"unknown control family {family!r}")
        out[(cls, family)] = _int(path, line, cls, "freshness_days", row["freshness_days"], 1)
    for cls in sorted(classes):
        missing = sorted(f for f in families if (cls, f) not in out)
        if missing:
            raise _fail(
                path, 0, cls, "freshness_days", f"missing policy for family {', '.join(missing)}"
            )
    return out
