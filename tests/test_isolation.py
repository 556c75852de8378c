"""Spec §8 on the export path: a bundle excludes every other tenant's data. Each test plants a
leak (in the staged files the run is about to publish, in the scope's macros, in a region's
folder) and shows that the check fails, the run fails, the leaking bundle is withheld and no
staged file is left; the same export without the plant succeeds. One leaking bundle never
withholds the run's other bundles."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import exports.pipeline as pipeline
from exports import contract
from exports import scope as scoped
from exports.bundle import StagedBundle
from orchestration.runner import export
from tenantproof.core.home import Home
from tenantproof.core.settings import HOME_ENV
from tenantproof.core.warehouse import connect
from tests.conftest import BuiltHome, names_another_tenant, settings_for

PERIOD = "2026-10"


def snapshot(home: Home) -> dict[str, str]:
    return {
        str(p.relative_to(home.exports)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.exports.rglob("*"))
        if p.is_file()
    }


def edit_parquet(path: Path, change: Callable[[list[dict]], list[dict]]) -> None:
    table = pq.read_table(path)
    pq.write_table(table.from_pylist(change(table.to_pylist()), schema=table.schema), path)


def plant(monkeypatch: pytest.MonkeyPatch, leak: Callable[[list[StagedBundle]], None]) -> None:
    real = pipeline.stage_bundles

    def staged_with_leak(scope, staging_root):
        bundles = real(scope, staging_root)
        leak(bundles)
        return bundles

    monkeypatch.setattr(pipeline, "stage_bundles", staged_with_leak)


def bundle_of(bundles: list[StagedBundle], tenant: str) -> StagedBundle:
    return next(b for b in bundles if b.tenant_id == tenant)


def refused(built: BuiltHome, tenants: list[str], period: str) -> str:
    """Run the export and require it to fail, publish nothing and leave no staged file; the
    failure's message and the failed step's errors with their causes (the command's message
    gives only the outermost one of an unexpected exception)."""
    import dagster as dg

    before = snapshot(built.home)
    with pytest.raises(SystemExit) as exc:
        export(settings_for(built.home), [period], tenants)
    assert snapshot(built.home) == before
    said = [str(exc.value)]
    with dg.DagsterInstance.from_config(str(built.home.dagster_home)) as instance:
        run_id = instance.get_runs(limit=1)[0].run_id
        for event in instance.all_logs(run_id):
            if event.dagster_event and event.dagster_event.is_step_failure:
                error = event.dagster_event.step_failure_data.error
                while error is not None:
                    said.append(error.message)
                    error = error.cause
    assert not (built.home.staging / run_id).exists(), "the run's staging folder is removed"
    leftovers = [p for p in built.home.staging.iterdir() if p.is_dir()]
    assert leftovers == [], "staged files of a failed run are removed"
    return "\n".join(said)


def assert_refused(built: BuiltHome, tenants: list[str], period: str, failed_check: str) -> None:
    message = refused(built, tenants, period)
    assert "withheld, failing validation" in message
    assert failed_check in message


def test_rows_of_another_tenant_in_a_bundle_fail_the_run(use_home, monkeypatch):
    def leak(bundles):
        t2, t3 = bundle_of(bundles, "t2"), bundle_of(bundles, "t3")
        foreign = pq.read_table(t3.files["audit_events.parquet"]).to_pylist()[:1]
        assert foreign, "t3 has events this period"
        edit_parquet(t2.files["audit_events.parquet"], lambda rows: rows + foreign)

    plant(monkeypatch, leak)
    assert_refused(
        use_home,
        ["t2", "t3"],
        PERIOD,
        "tenant_isolation:expect_column_pair_values_to_be_equal(tenant_id=expected_tenant)",
    )


def test_another_tenants_row_in_a_csv_file_fails_the_run(use_home, monkeypatch):
    def leak(bundles):
        path = bundle_of(bundles, "t1").files["controls.csv"]
        lines = path.read_text().splitlines()
        path.write_text("\n".join([*lines, "t2" + lines[1][2:]]) + "\n")

    plant(monkeypatch, leak)
    assert_refused(use_home, ["t1"], PERIOD, "tenant_isolation:")


def test_another_tenants_identifier_in_free_text_fails_the_run(use_home, monkeypatch):
    name_of_t10 = use_home.identifiers["t10"]

    def leak(bundles):
        def mention(rows):
            rows[0]["reason"] = f"escalated to the {name_of_t10} admins"
            return rows

        edit_parquet(bundle_of(bundles, "t1").files["audit_events.parquet"], mention)

    plant(monkeypatch, leak)
    assert_refused(
        use_home,
        ["t1"],
        PERIOD,
        "tenant_isolation:expect_column_values_to_be_in_set(foreign_mentions)",
    )


def test_unredacted_pii_fails_the_run(use_home, monkeypatch):
    def leak(bundles):
        def unredact(rows):
            rows[0]["actor_email"] = "jane.doe@customer.example"
            return rows

        edit_parquet(bundle_of(bundles, "t1").files["access_history.parquet"], unredact)

    plant(monkeypatch, leak)
    assert_refused(use_home, ["t1"], PERIOD, "pii_redaction:")


def test_a_row_count_that_differs_from_the_marts_fails_the_run(use_home, monkeypatch):
    def leak(bundles):
        edit_parquet(bundle_of(bundles, "t1").files["evidence.parquet"], lambda rows: rows[1:])

    plant(monkeypatch, leak)
    assert_refused(use_home, ["t1"], PERIOD, "row_counts:")


def test_one_leaking_bundle_is_withheld_and_the_others_of_the_run_publish(
    use_home, tmp_path, monkeypatch
):
    period = "2026-07"  # no bundle exists for it yet
    root = tmp_path / "home"
    shutil.copytree(use_home.home.root, root)
    monkeypatch.setenv(HOME_ENV, str(root))
    home = Home(root)
    assert not list(home.exports.glob(f"*/*/{period}"))

    def leak(bundles):
        t3 = bundle_of(bundles, "t3")
        edit_parquet(
            t3.files["controls.parquet"], lambda rows: rows + [{**rows[0], "tenant_id": "t4"}]
        )

    plant(monkeypatch, leak)
    with pytest.raises(SystemExit, match=r"1 bundle\(s\) withheld.*: t3 2026-07; 2 published"):
        export(settings_for(home), [period], ["t2", "t3", "t4"])
    published = sorted(
        p.parent.parent.name for p in home.exports.glob(f"*/*/{period}/manifest.json")
    )
    assert published == ["t2", "t4"], "every other bundle of the run, each whole"
    assert not list(home.exports.glob(f"*/t3/{period}"))
    assert [p for p in home.staging.iterdir() if p.is_dir()] == []


def test_without_a_plant_the_same_export_publishes_and_a_retry_publishes_nothing_new(
    use_home, tmp_path, monkeypatch
):
    root = tmp_path / "home"
    shutil.copytree(use_home.home.root, root)
    monkeypatch.setenv(HOME_ENV, str(root))
    home = Home(root)
    for bundle in home.exports.glob(f"*/t1/{PERIOD}"):
        shutil.rmtree(bundle)
    before = snapshot(home)
    export(settings_for(home), [PERIOD], ["t1"])
    after = snapshot(home)
    changed = {k for k in after if after[k] != before.get(k)}
    # the period's bundle, and t1's own signed index (which lists it again): nothing else
    assert changed and all(
        k.split("/")[1:3] in (["t1", PERIOD], ["t1", contract.TENANT_INDEX]) for k in changed
    )
    assert any(k.endswith(f"t1/{contract.TENANT_INDEX}") for k in changed)
    export(settings_for(home), [PERIOD], ["t1"])  # unchanged: published once
    assert snapshot(home) == after


def test_log_lines_of_one_tenants_export_name_no_other_tenant(use_home, capfd):
    import dagster as dg

    export(settings_for(use_home.home), [PERIOD], ["t1"])
    printed = capfd.readouterr()
    with dg.DagsterInstance.from_config(str(use_home.home.dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        assert run.tags["dagster/asset_partition_range_start"] == f"{PERIOD}|t1"
        events = instance.all_logs(run.run_id)
    texts = [e.message or "" for e in events] + [e.user_message or "" for e in events]
    texts += (printed.out + printed.err).splitlines()
    assert any("validation passed" in t for t in texts)
    assert names_another_tenant(texts, "t1", use_home) == []
    # the detector itself finds a line that names another tenant
    assert names_another_tenant([*texts, "published bundle for t10"], "t1", use_home)


def test_a_csv_that_differs_from_its_parquet_twin_fails_the_run(use_home, monkeypatch):
    def leak(bundles):
        path = bundle_of(bundles, "t1").files["controls.csv"]
        lines = path.read_text().splitlines()
        assert "," in lines[1]
        lines[1] = lines[1].replace(",", ",x", 1)  # same tenant, same row count, other content
        path.write_text("\n".join(lines) + "\n")

    plant(monkeypatch, leak)
    assert_refused(
        use_home,
        ["t1"],
        PERIOD,
        "row_counts:expect_column_pair_values_to_be_equal(content_digest=twin_digest)",
    )


@pytest.fixture
def unfiltered_scope(use_home: BuiltHome, monkeypatch: pytest.MonkeyPatch):
    """Plant the misconfiguration: ``install`` creates the scoped macros of the given relations
    without their tenant filter (same signature, every tenant's rows). The warehouse's macros
    are reinstalled correctly afterwards."""
    real = scoped.install

    def plant(relations: list[str]) -> None:
        def install_unfiltered(con) -> None:
            real(con)
            for name in relations:
                rel = scoped.RELATIONS[name]
                args = "tenants, periods" if rel.periodic else "tenants"
                con.execute(
                    f"create or replace macro {scoped.SCOPE_SCHEMA}.{rel.name}({args}) as table "
                    f"select * from {rel.model}"
                )

        monkeypatch.setattr(scoped, "install", install_unfiltered)

    yield plant
    con = connect(use_home.home.warehouse)
    try:
        real(con)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("relations", "guard"),
    [
        # the bundle files are streamed by COPY, not read back through the scope: the
        # partitions written are the check
        (
            [r.name for r in scoped.BUNDLE_RELATIONS],
            "the scoped read returned rows outside the scope",
        ),
        # the registry is read through the scope, which re-checks every row it returns
        (list(scoped.RELATIONS), "tenant(s) outside the scope in the result"),
    ],
    ids=["bundle-relations", "every-relation"],
)
def test_scoped_macros_without_the_tenant_filter_fail_the_run(
    use_home, unfiltered_scope, relations, guard
):
    unfiltered_scope(relations)
    message = refused(use_home, ["t2", "t3"], PERIOD)
    assert guard in message


def test_a_tenant_folder_that_leads_into_another_region_fails_the_run(use_home):
    """A published tenant folder replaced by a link into another region's root (a mount set up
    wrongly): publishing through it would put the bundle in the other region."""
    regions = dict(use_home.query("select tenant_id, residency_region from raw.tenants"))
    region = regions["t1"]
    other = next(r for r in sorted(set(regions.values())) if r != region)
    folder = use_home.home.exports / region / "t1"
    moved = folder.with_name(".t1.kept")
    elsewhere = use_home.home.exports / other / "t1"
    assert folder.is_dir() and not elsewhere.exists()
    folder.rename(moved)
    try:
        elsewhere.mkdir()
        folder.symlink_to(elsewhere, target_is_directory=True)
        message = refused(use_home, ["t1"], PERIOD)
        # the residency check before publication, else publication's own guard
        assert re.search(
            rf"outside region {region}'s exports root|would leave its region's exports root",
            message,
        )
        assert list(elsewhere.iterdir()) == [], "nothing reached the other region"
    finally:
        folder.unlink(missing_ok=True)
        if elsewhere.exists():
            shutil.rmtree(elsewhere)
        moved.rename(folder)
