"""The tenant policy matrix, read from the same seed files dbt loads (DESIGN principle 2).

No code branches on a class name: everything a class changes is a row in ``seeds/``.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from tenantproof.config import SEEDS_DIR

POLICY_FILES = (
    "tenant_class_policies.csv",
    "redaction_rules.csv",
    "controls.csv",
    "shared_services.csv",
    # Drift and freshness rules: they shape each bundle's freshness_report.html.
    "control_inheritance.csv",
    "change_actions.csv",
    "drift_kinds.csv",
)
REDACTION_METHODS = ("keep", "hash", "mask", "drop")


class PolicyError(ValueError):
    """A policy file is invalid; the message names the file, the row and the field."""


@dataclass(frozen=True)
class Policy:
    classes: dict[str, dict[str, str]]  # tenant_class -> row
    redaction: dict[str, dict[str, str]]  # profile -> {column: method}
    controls: list[dict[str, str]]
    services: list[dict[str, str]]
    version: str

    def profile_of(self, tenant_class: str) -> str:
        return self.classes[tenant_class]["redaction_profile"]

    def allowed_regions(self, tenant_class: str) -> set[str]:
        return set(self.classes[tenant_class]["allowed_regions"].split("|"))


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise PolicyError(f"{path}: policy file is missing")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


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
    return Policy(
        classes=classes,
        redaction=redaction,
        controls=_rows(seeds_dir / "controls.csv"),
        services=_rows(seeds_dir / "shared_services.csv"),
        version=policy_version(seeds_dir),
    )
