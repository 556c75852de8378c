"""Resources: where the data home is, and the one connection that writes the warehouse."""

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from orchestration.project import dbt_project
from tenantproof.config import DEFAULT_MEMORY_LIMIT, MEMORY_ENV, Home
from tenantproof.engine import engine_name
from tenantproof.notify import JsonlNotifier, LogNotifier, Notifier
from tenantproof.policy import Policy, load_policy
from tenantproof.warehouse import connect


class TenantproofResource(dg.ConfigurableResource):
    """The data home. Left unset, it is ``TENANTPROOF_HOME`` (default ``./data``), read when a
    run starts, so dbt (which reads the same variable) and Python always agree."""

    home: str | None = None
    memory_limit: str | None = None  # default: TENANTPROOF_MEMORY_LIMIT, else 4GB

    def get_home(self) -> Home:
        return (Home.from_env() if self.home is None else Home.from_env(self.home)).ensure()

    def policy(self) -> Policy:
        return load_policy()

    @contextmanager
    def warehouse(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The writer connection; closed before anything else (dbt) opens the file."""
        home = self.get_home()
        limit = self.memory_limit or os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY_LIMIT
        con = connect(home.warehouse, memory_limit=limit)
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
    """The dbt installed beside this Python (the venv), so PATH need not be activated."""
    for folder in (Path(sys.prefix) / "bin", Path(sys.executable).parent):
        if (folder / "dbt").exists():
            return str(folder / "dbt")
    return shutil.which("dbt") or "dbt"


def build_resources() -> dict[str, object]:
    engine_name()  # an unknown TENANTPROOF_ENGINE stops the code location from loading
    return {
        "tenantproof": TenantproofResource(),
        "drift_notifier": DriftNotifierResource(),
        "dbt": DbtCliResource(
            project_dir=dbt_project,
            profiles_dir=dbt_project.profiles_dir,
            dbt_executable=dbt_executable(),
        ),
    }
