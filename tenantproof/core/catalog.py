"""What the dbt models say about themselves: ``meta.tenantproof`` in the model YAML, read from
the manifest dbt writes (``make manifest``), so that no Python module keeps a list of marts.

The keys a model may set under ``config: meta: tenantproof:``

* ``retention_column``: the model keeps tenant rows that age by this column; a retention purge
  deletes rows past the tenant class's window from it (when it is a table).
* ``reconcile``: a list of ``{source, counts, where?, distinct?}``: the model's rows (filtered by
  ``where``, counted distinct on ``distinct``) are the ``counts`` of that source in the row
  reconciliation: ``tenant_rows``, ``global_rows_applied`` or ``global_rows_excluded`` (for the
  last, ``source`` may be ``"*"`` with the model's own ``source`` column naming it).
* ``analytics_snapshot``: ``{name, order_by, columns?, exclude?}``: the model is published as
  ``<home>/analytics/<name>.parquet`` for the dashboard and the drift sensor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tenantproof.core.home import PROJECT_DIR

MANIFEST_PATH = PROJECT_DIR / "target" / "manifest.json"
META_KEY = "tenantproof"


class CatalogMissing(RuntimeError):
    """The dbt manifest is not there: the project has not been parsed (`make manifest`)."""


@dataclass(frozen=True)
class Model:
    name: str
    relation: str  # schema.alias, as the warehouse names it
    materialized: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@lru_cache(maxsize=4)
def _models(path: Path, mtime_ns: int) -> tuple[Model, ...]:
    nodes = json.loads(path.read_text(encoding="utf-8"))["nodes"].values()
    return tuple(
        Model(
            name=node["name"],
            relation=f"{node['schema']}.{node.get('alias') or node['name']}",
            materialized=node["config"].get("materialized", ""),
            meta=dict((node["config"].get("meta") or {}).get(META_KEY) or {}),
        )
        for node in sorted(nodes, key=lambda n: n["unique_id"])
        if node["resource_type"] == "model"
    )


def models(manifest: Path = MANIFEST_PATH) -> tuple[Model, ...]:
    """Every dbt model of the project, in a stable order."""
    if not manifest.exists():
        raise CatalogMissing(f"{manifest} is missing: run `make manifest` (dbt parse) first")
    return _models(manifest, manifest.stat().st_mtime_ns)


def models_with(key: str, manifest: Path = MANIFEST_PATH) -> list[tuple[Model, Any]]:
    """The models whose ``meta.tenantproof`` sets ``key``, with its value."""
    return [(m, m.meta[key]) for m in models(manifest) if key in m.meta]


@lru_cache(maxsize=1)
def vocabulary_columns() -> frozenset[str]:
    """The columns whose values the product writes from its policy and logic (dbt_project.yml,
    ``vars: vocabulary_columns``): neither scrubbed of tenant identifiers nor judged for them."""
    return frozenset(c.lower() for c in _project_vars()["vocabulary_columns"])


@dataclass(frozen=True)
class FreeTextKind:
    """One kind of personal data the scrub finds in free text (dbt_project.yml,
    ``vars: free_text_pii``)."""

    kind: str
    pattern: str  # the match itself; free_text_boundary() goes before it
    placeholder: str
    hint: str  # matches wherever `pattern` does: a cheap pre-filter
    check: str | None = None  # "luhn": only candidates whose digits pass the Luhn check

    def __post_init__(self) -> None:
        if self.check not in (None, "luhn"):
            raise ValueError(
                f"dbt_project.yml free_text_pii {self.kind}: unknown check {self.check!r}"
            )

    @property
    def bounded(self) -> str:
        """The pattern as the scrub and the validator run it: free_text_boundary() (group 1),
        then the match (group 2)."""
        return f"{free_text_boundary()}({self.pattern})"

    def accepts(self, candidate: str) -> bool:
        """A candidate match is this kind's data (it passes the kind's check)."""
        return self.check is None or luhn_valid("".join(c for c in candidate if c in "0123456789"))


def luhn_valid(digits: str) -> bool:
    """The digits pass the Luhn check (payment card numbers do)."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return bool(digits) and total % 10 == 0


@lru_cache(maxsize=1)
def _project_vars() -> dict[str, Any]:
    import yaml

    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return project["vars"]


@lru_cache(maxsize=1)
def free_text_pii() -> tuple[FreeTextKind, ...]:
    """The kinds of personal data found in free text, in the order the scrub applies them."""
    return tuple(FreeTextKind(**entry) for entry in _project_vars()["free_text_pii"])


def scrub_rules() -> dict[str, Any]:
    """What shapes the scrubbed rows besides the seeds: the vars naming the PII, vocabulary and
    free-text rules (a change rebuilds the incremental marts, tenantproof.transform.buildstate)."""
    names = ("pii_columns", "vocabulary_columns", "free_text_boundary", "free_text_pii")
    return {name: _project_vars()[name] for name in names}


def free_text_boundary() -> str:
    """Where a match of free-text personal data may start (one group, before the match)."""
    return str(_project_vars()["free_text_boundary"])


def free_text_hint() -> str:
    """One cheap pattern that matches wherever some kind of free-text personal data could."""
    return "(?:" + "|".join(k.hint for k in free_text_pii()) + ")"


def free_text_kinds() -> tuple[str, ...]:
    return tuple(k.kind for k in free_text_pii())


def pii_columns() -> frozenset[str]:
    """The columns a redaction profile names (``vars: pii_columns``): they follow their own
    method, not the free-text rules."""
    return frozenset(c.lower() for c in _project_vars()["pii_columns"])
