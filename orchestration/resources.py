"""Resources: the run's settings (the data home among them) and the one connection that writes
the warehouse."""

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource, DbtProject

from orchestration.project import dbt_project
from tenantproof.analytics.notify import JsonlNotifier, LogNotifier, Notifier
from tenantproof.core.home import SEEDS_DIR, Home
from tenantproof.core.policy import Policy, load_policy
from tenantproof.core.settings import Settings
from tenantproof.core.warehouse import connect
from tenantproof.transform.dbt_launcher import launcher_script


class TenantproofResource(dg.ConfigurableResource):
    """The run's settings. Each field left unset is its environment variable (read when a run
    starts, never at import time), else the default; a field that is set wins over the
    variable. ``read_environment=False`` reads no variable at all: the CLI and the release
    gate hand over settings they resolved themselves (``from_settings``)."""

    home: str | None = None
    engine: str | None = None
    as_of: str | None = None
    memory_limit: str | None = None
    signing_key: str | None = None
    export_roots: dict[str, str] | None = None  # region -> exports root
    seeds_dir: str | None = None  # the policy seeds (default: the project's seeds/)
    read_environment: bool = True

    @classmethod
    def from_settings(
        cls, settings: Settings, seeds_dir: Path | None = None
    ) -> "TenantproofResource":
        home = settings.home
        return cls(
            home=str(home.root),
            engine=settings.engine,
            as_of=settings.as_of,
            memory_limit=settings.memory_limit,
            signing_key=str(home.signing_key_path),
            export_roots={region: str(root) for region, root in home.export_roots},
            seeds_dir=None if seeds_dir is None else str(seeds_dir),
            read_environment=False,
        )

    def settings(self) -> Settings:
        return Settings.resolve(
            home=self.home,
            engine=self.engine,
            as_of=self.as_of,
            memory_limit=self.memory_limit,
            signing_key=self.signing_key,
            export_roots=self.export_roots,
            environ=os.environ if self.read_environment else {},
            seeds_dir=self._seeds_dir(),
        )

    def _seeds_dir(self) -> Path:
        return Path(self.seeds_dir) if self.seeds_dir else SEEDS_DIR

    def get_home(self) -> Home:
        return self.settings().home.ensure()

    def policy(self) -> Policy:
        return load_policy(self._seeds_dir())

    @contextmanager
    def warehouse(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The writer connection; closed before anything else (dbt) opens the file."""
        settings = self.settings()
        con = connect(settings.home.warehouse, memory_limit=settings.memory_limit)
        try:
            yield con
        finally:
            con.close()


class DriftNotifierResource(dg.ConfigurableResource):
    """Where the drift sensor sends new flags: its log by default, or a JSONL file when
    ``jsonl_path`` is set. To send them elsewhere, subclass and override ``notifier``."""

    jsonl_path: str | None = None

    def notifier(self, log: Callable[[str], None]) -> Notifier:
        return JsonlNotifier(Path(self.jsonl_path)) if self.jsonl_path else LogNotifier(log)


def dbt_executable() -> str:
    """The dbt installed beside this Python (the venv), so PATH need not be activated, started
    through a launcher that makes it die with the process that started it: a killed build
    leaves no dbt behind holding the warehouse (tenantproof/transform/dbt_launcher.py)."""
    return str(launcher_script(_installed_dbt()))


def _installed_dbt() -> str:
    for folder in (Path(sys.prefix) / "bin", Path(sys.executable).parent):
        if (folder / "dbt").exists():
            return str(folder / "dbt")
    return shutil.which("dbt") or "dbt"


def build_resources(
    settings: Settings | None = None,
    project_dir: Path | None = None,
    seeds_dir: Path | None = None,
) -> dict[str, object]:
    """The definitions' resources: from the environment when a run starts (``dagster dev``), or
    from settings the caller resolved (the CLI; the release gate's scratch home, with its own
    copy of the dbt project in ``project_dir`` and its seeds in ``seeds_dir``)."""
    if settings is None:
        tenantproof = TenantproofResource()
        tenantproof.settings()  # an unknown TENANTPROOF_ENGINE stops the code location loading
    else:
        tenantproof = TenantproofResource.from_settings(settings, seeds_dir)
    project: DbtProject | str = dbt_project if project_dir is None else str(project_dir)
    profiles = dbt_project.profiles_dir if project_dir is None else str(project_dir / "profiles")
    return {
        "tenantproof": tenantproof,
        "drift_notifier": DriftNotifierResource(),
        "dbt": DbtCliResource(
            project_dir=project, profiles_dir=profiles, dbt_executable=dbt_executable()
        ),
    }
