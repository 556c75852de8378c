"""The same landing data built on DuckDB and on Spark: every mart and export-shaped relation,
and every published bundle, row for row equal. Run by `make test-spark` (needs pyspark and a
Java runtime; `make test` does not collect this folder).

Two homes share the landing files, the ingested raw tables and the keys: home A builds and
exports on DuckDB, home B on Spark, each through the same Dagster jobs."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from exports.verify import load_tenant_keys, verify_bundle
from tenantproof.core.home import Home
from tenantproof.core.settings import HOME_ENV
from tenantproof.core.warehouse import connect
from tenantproof.transform.compare import compare_bundles, compare_engines, compare_relation
from tenantproof.transform.engine import ENGINE_ENV, spark_relations_dir
from tests.conftest import platform_key, settings_for

AS_OF = date(2026, 11, 15)
LAST_PERIOD = "2026-10"
KEYS = "tenant_encryption_keys.json"


def _keys(home: Home) -> dict[str, str]:
    return load_tenant_keys(home.keys / KEYS)


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory):
    from orchestration.runner import available_periods, build, export
    from tenantproof.demo.generate import generate

    a = Home(tmp_path_factory.mktemp("duckdb_home")).ensure()
    b = Home(tmp_path_factory.mktemp("spark_home")).ensure()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TENANTPROOF_AS_OF", AS_OF.isoformat())
        mp.setenv(HOME_ENV, str(a.root))
        mp.setenv(ENGINE_ENV, "duckdb")
        generate(a.root, tenants=12, events=3000, seed=11, as_of=AS_OF)
        build(settings_for(a))
        # B starts from A's ingest: the same raw rows (and load times) and the same keys.
        for name in ("landing", "registry", "keys", "warehouse"):
            shutil.rmtree(b.root / name, ignore_errors=True)
            shutil.copytree(a.root / name, b.root / name)
        periods = available_periods(a, LAST_PERIOD)
        export(settings_for(a), periods, None)

        mp.setenv(HOME_ENV, str(b.root))
        mp.setenv(ENGINE_ENV, "spark")
        build(settings_for(b))
        export(settings_for(b), periods, None)
    return a, b, periods


def test_every_mart_and_export_model_is_equal_row_by_row(homes) -> None:
    a, b, _ = homes
    con = connect(a.warehouse, read_only=True)
    try:
        diffs = compare_engines(con, spark_relations_dir(b))
    finally:
        con.close()
    report = "\n".join(str(d) for d in diffs if d.differences)
    assert sum(d.differences for d in diffs) == 0, report
    compared = {d.relation for d in diffs}
    assert {"marts.fct_audit_events", "export.rpt_tenant_audit_events"} <= compared
    assert len([r for r in compared if r.startswith("marts.")]) == 12
    assert len([r for r in compared if r.startswith("export.")]) == 8
    rows = {d.relation: d.spark_rows for d in diffs}
    assert rows["marts.fct_audit_events"] > 3000 and rows["marts.fct_drift_flags"] > 0


def test_the_spark_build_is_what_the_warehouse_serves(homes) -> None:
    """On Spark the warehouse's marts and export models are views over what Spark wrote."""
    _, b, _ = homes
    con = connect(b.warehouse, read_only=True)
    try:
        kinds = dict(
            con.execute(
                "select table_schema || '.' || table_name, table_type "
                "from information_schema.tables where table_schema in ('marts', 'export')"
            ).fetchall()
        )
        spark_rows = con.execute(
            "select count(*) from read_parquet(?)",
            [str(spark_relations_dir(b) / "marts" / "fct_audit_events" / "*.parquet")],
        ).fetchone()[0]
        served = con.execute("select count(*) from marts.fct_audit_events").fetchone()[0]
    finally:
        con.close()
    assert set(kinds.values()) == {"VIEW"} and len(kinds) == 20
    assert served == spark_rows


def test_every_published_bundle_has_the_same_rows(homes) -> None:
    a, b, periods = homes
    diffs = compare_bundles(a.exports, b.exports, _keys(a), _keys(b))
    assert sum(d.differences for d in diffs) == 0, "\n".join(str(d) for d in diffs)
    assert len(diffs) == 12 * len(periods)
    for folder in sorted(p.parent for p in b.exports.glob("*/*/*/manifest.json")):
        assert verify_bundle(folder, platform_key(b)).ok, folder


def test_the_comparison_catches_a_changed_row(homes, tmp_path: Path) -> None:
    """Plant a difference in a copy of Spark's relation: one row's tenant changed."""
    a, b, _ = homes
    source = spark_relations_dir(b) / "export" / "rpt_tenant_audit_events"
    planted = tmp_path / "rpt_tenant_audit_events"
    planted.mkdir()
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(
        f"""copy (
            select * replace (
                case when event_id = (select min(event_id) from read_parquet('{source}/*.parquet'))
                then 't_other' else tenant_id end as tenant_id)
            from read_parquet('{source}/*.parquet')
        ) to '{planted}/part-0.parquet' (format parquet)"""
    )
    con.close()
    warehouse = connect(a.warehouse, read_only=True)
    try:
        clean = compare_relation(warehouse, "export.rpt_tenant_audit_events", source)
        diff = compare_relation(warehouse, "export.rpt_tenant_audit_events", planted)
    finally:
        warehouse.close()
    assert clean.differences == 0
    assert (diff.only_in_duckdb, diff.only_in_spark) == (1, 1)
    assert any("t_other" in e for e in diff.examples)


def test_the_bundle_comparison_catches_a_changed_file(homes, tmp_path: Path) -> None:
    a, b, _ = homes
    copy = tmp_path / "exports"
    shutil.copytree(b.exports, copy)
    manifest = next(
        p for p in sorted(copy.glob("*/*/*/manifest.json")) if "encrypted" not in p.read_text()
    )
    target = manifest.parent / "audit_events.parquet"
    table = pq.read_table(target, partitioning=None)
    pq.write_table(table.slice(1), target)
    diffs = compare_bundles(a.exports, copy, _keys(a), _keys(b))
    changed = [d for d in diffs if d.differences]
    assert [d.bundle for d in changed] == [str(manifest.parent.relative_to(copy))]
    assert "audit_events.parquet" in changed[0].problems[0]


@pytest.fixture(scope="module")
def after_increment(homes):
    """New events land after the first builds: A ingests them and builds incrementally on
    DuckDB; B receives A's raw rows and builds incrementally on Spark (append)."""
    from orchestration.runner import build
    from tenantproof.bench.benchmark import generate_increment

    a, b, periods = homes
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TENANTPROOF_AS_OF", AS_OF.isoformat())
        mp.setenv(HOME_ENV, str(a.root))
        mp.setenv(ENGINE_ENV, "duckdb")
        added = generate_increment(a, 40)
        build(settings_for(a))
        con = connect(b.warehouse)
        try:
            con.execute(f"attach '{a.warehouse}' as a (read_only)")
            for (table,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = 'a' and table_schema = 'raw'"
            ).fetchall():
                con.execute(f"create or replace table raw.{table} as select * from a.raw.{table}")
        finally:
            con.close()
        mp.setenv(HOME_ENV, str(b.root))
        mp.setenv(ENGINE_ENV, "spark")
        build(settings_for(b))
    return a, b, added


def test_an_incremental_spark_build_appends_the_same_rows(after_increment) -> None:
    a, b, added = after_increment
    state = json.loads((b.warehouse.parent / "build_state.json").read_text("utf-8"))
    assert (state["engine"], state["full_refresh"]) == ("spark", False)
    con = connect(a.warehouse, read_only=True)
    try:
        diffs = compare_engines(con, spark_relations_dir(b))
        new_rows = con.execute(
            "select count(*) from marts.fct_audit_events where event_id like 'ae-inc%'"
        ).fetchone()[0]
    finally:
        con.close()
    assert new_rows == added
    assert sum(d.differences for d in diffs) == 0, "\n".join(str(d) for d in diffs if d.differences)
