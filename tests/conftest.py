"""Shared fixtures: one whole pipeline run (generate -> ingest -> dbt build -> export) in a
temporary home, built once per session and read by the tests that check its results."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from exports import contract
from exports.contract import Recogniser
from tenantproof.compliance import artefacts, release_gate
from tenantproof.core.home import SEEDS_DIR, Home
from tenantproof.core.settings import HOME_ENV, Settings
from tenantproof.core.warehouse import connect

AS_OF = date(2026, 11, 15)
AS_OF_ENV = "TENANTPROOF_AS_OF"  # read by the dbt macro as_of()


def settings_for(home: Home | Path) -> Settings:
    """The settings of a run on this home: the rest from the environment, as the CLI does."""
    root = home.root if isinstance(home, Home) else home
    return Settings.from_environment(home=root)


LAST_PERIOD = "2026-10"
TENANTS = 12
FAMILIES = (  # control families of seeds/controls.csv
    "access_control",
    "audit_logging",
    "data_retention",
    "encryption",
    "incident_response",
    "tenant_isolation",
)


@dataclass
class BuiltHome:
    home: Home
    periods: list[str]
    identifiers: dict[str, str]  # tenant_id -> tenant_name

    def foreign_identifiers(self, tenant_id: str) -> list[str]:
        return [w for t, name in self.identifiers.items() if t != tenant_id for w in (t, name)]

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        con = connect(self.home.warehouse, read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


def names_another_tenant(texts: list[str], tenant_id: str, built: BuiltHome) -> list[str]:
    """The texts that name a tenant other than `tenant_id` (the rule of
    exports.contract.Recogniser, docs/TENANT_MENTIONS.md)."""
    rule = Recogniser(built.identifiers.items())
    return [t for t in texts if rule.foreign_mentions(t, tenant_id)]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltHome]:
    from orchestration.runner import available_periods, build, export
    from tenantproof.demo.generate import generate

    root = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(HOME_ENV, str(root))
        # freshness and drift are computed as of the generated data's end, not the wall clock
        mp.setenv(AS_OF_ENV, AS_OF.isoformat())
        home = Home(root).ensure()
        generate(root, tenants=TENANTS, events=3000, seed=11, as_of=AS_OF)
        build(settings_for(home))
        periods = available_periods(home, LAST_PERIOD)
        export(settings_for(home), periods, None)
        con = connect(home.warehouse, read_only=True)
        identifiers = dict(con.execute("select tenant_id, tenant_name from raw.tenants").fetchall())
        con.close()
        yield BuiltHome(home, periods, identifiers)


@pytest.fixture
def use_home(built: BuiltHome, monkeypatch: pytest.MonkeyPatch) -> BuiltHome:
    """The built home as the current one (dbt and Dagster resolve it from the variable)."""
    monkeypatch.setenv(HOME_ENV, str(built.home.root))
    monkeypatch.setenv(AS_OF_ENV, AS_OF.isoformat())
    return built


def platform_key(home: Home) -> bytes:
    """The public half of the home's export signing key: the key an auditor pins."""
    from exports.signing import LocalSigningKey

    return LocalSigningKey.for_home(home).public_key_pem()


def bundle_dirs(home: Home) -> list[Path]:
    """The published bundles (a hidden folder is never one)."""
    return sorted(
        p.parent
        for p in home.exports.glob("*/*/*/manifest.json")
        if contract.is_bundle_name(p.parent.name)
    )


# -- a copy of the built home per test, and the policy files' helpers --


@pytest.fixture
def home(built: BuiltHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    root = tmp_path / "home"
    shutil.copytree(built.home.root, root)
    monkeypatch.setenv(HOME_ENV, str(root))
    return Home(root)


def seeds_copy(tmp_path: Path) -> Path:
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, target)
    return target


def edit_csv(path: Path, match: dict[str, str], changes: dict[str, str]) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        if all(row[k] == v for k, v in match.items()):
            row.update(changes)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "compliance"
    shutil.copytree(artefacts.COMPLIANCE_DIR, folder)
    return folder


def gate(docs: Path, **kwargs) -> release_gate.GateResult:
    kwargs.setdefault("export_probe", lambda policy: dict.fromkeys(policy.classes))
    kwargs.setdefault("test_runner", lambda paths: (True, "2 passed"))
    kwargs.setdefault("today", date.today())
    return release_gate.release_gate(folder=docs, **kwargs)
