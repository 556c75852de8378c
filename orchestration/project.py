"""The dbt project, built once here; the manifest is prepared by `make` (dbt parse), never at
import time outside `dagster dev`."""

from __future__ import annotations

from dagster_dbt import DbtProject

from tenantproof.core.home import PROJECT_DIR

dbt_project = DbtProject(project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR / "profiles")
dbt_project.prepare_if_dev()
