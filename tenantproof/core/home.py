"""Where tenantproof keeps its data: one home folder, laid out once, here.

Everything a run reads or writes lives under the home (``TENANTPROOF_HOME``, default
``./data``), so a test or a benchmark gets a whole installation from a temporary folder. Two
places may be configured outside it: the export signing key (a mounted secret) and a region's
exports root (another volume). A ``Home`` is built by ``tenantproof.core.settings``; nothing here
reads the environment.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
SEEDS_DIR = PROJECT_DIR / "seeds"
EXPECTATIONS_DIR = PROJECT_DIR / "expectations"
WAREHOUSE_FILE = "tenantproof.duckdb"
SIGNING_KEY_FILE = "export_signing_key.pem"
KEEP_DBT_RUNS = 3  # warehouse builds whose dbt artefacts and logs stay in <home>/dbt/target
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
"""


@dataclass(frozen=True)
class Home:
    """The data home and every path derived from it. ``signing_key``: the export key's file
    when it is kept outside the home; ``export_roots``: (region, root) for the regions whose
    exports root is configured elsewhere."""

    root: Path
    signing_key: Path | None = None
    export_roots: tuple[tuple[str, Path], ...] = ()

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key or self.keys / SIGNING_KEY_FILE

    def region_root(self, region: str) -> Path:
        """The one rule for a region's exports root: configured, else ``<exports>/<region>``."""
        configured = dict(self.export_roots).get(region)
        return (configured or self.exports / region).resolve()

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def sources(self) -> Path:
        """The platform's own source mappings (docs/SOURCES.md), beside the shipped ones."""
        return self.root / "sources"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / WAREHOUSE_FILE

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def deletions(self) -> Path:
        """The global area for deletion certificates and retention purge records (and a
        deletion's progress): outside every tenant's exports, so it survives the tenant."""
        return self.root / "deletions"

    @property
    def registry(self) -> Path:
        """Published copy of the tenant registry, for readers that must not open the warehouse."""
        return self.root / "registry" / "tenants.parquet"

    @property
    def analytics(self) -> Path:
        """The analytics snapshot (Parquet) that dashboards and sensors read instead of the
        warehouse file (DESIGN principle 7)."""
        return self.root / "analytics"

    @property
    def isolation_log(self) -> Path:
        """Append-only JSONL of tenant isolation incidents seen by the export (counts only)."""
        return self.root / "logs" / "isolation_incidents.jsonl"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def outbox(self) -> Path:
        """Bundles delivered to recipients: ``<recipient>/<region>/<tenant>/<period>/``."""
        return self.root / "outbox"

    def stores(self) -> tuple[Path, ...]:
        """The top folders that hold originals or managed stores, each with its own code (and
        its own deletion step); every other folder of the home holds copies derived from them
        (the analytics snapshot, logs, Spark's hand-off), which tenant deletion sweeps."""
        return (
            self.landing,
            self.warehouse.parent,
            self.exports,
            self.staging,
            self.keys,
            self.deletions,
            self.dagster_home,
            self.registry.parent,
            self.dbt_target.parent,
            self.outbox,
        )

    @property
    def dbt_target(self) -> Path:
        """dbt's artefacts and logs, one folder per warehouse build (they name tenants)."""
        return self.root / "dbt" / "target"

    def ensure(self) -> Home:
        """Create the layout; give Dagster an instance config that allows one run at a time,
        since every run that writes holds the warehouse file (one writer per file)."""
        for path in (
            self.landing,
            self.warehouse.parent,
            self.quarantine,
            self.staging,
            self.exports,
            self.keys,
            self.registry.parent,
            self.dagster_home,
        ):
            path.mkdir(parents=True, exist_ok=True)
        instance_config = self.dagster_home / "dagster.yaml"
        if not instance_config.exists():
            instance_config.write_text(DAGSTER_YAML, encoding="utf-8")
        return self


def prune_dbt_runs(target: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` run folders under dbt's target; returns the removed."""
    if not target.is_dir():
        return []
    runs = sorted((p for p in target.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    removed = runs[: max(len(runs) - keep, 0)]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed
