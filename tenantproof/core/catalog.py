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
    import yaml

    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return frozenset(c.lower() for c in project["vars"]["vocabulary_columns"])
