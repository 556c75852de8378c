"""The engine setting and the pieces of the Spark path that need no Spark: the raw tables
handed over, the relations mounted back, and the full rebuild when the engine changes. The
Spark build itself is compared with DuckDB's row by row in tests_spark (`make test-spark`)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from tenantproof.cli.main import main as cli_main
from tenantproof.core.home import PROJECT_DIR, Home
from tenantproof.core.settings import ENGINE_ENV, Settings, UnknownEngine
from tenantproof.transform.buildstate import full_refresh_reason, record_build
from tenantproof.transform.engine import (
    SPARK_RAW_TABLES,
    EngineUnavailable,
    hand_raw_to_spark,
    mount_spark_relations,
    require_engine,
    spark_raw_dir,
    spark_relations_dir,
)


def test_the_engine_is_a_setting_and_an_unknown_one_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert Settings.from_environment().engine == "duckdb"
    monkeypatch.setenv(ENGINE_ENV, " Spark ")
    assert Settings.from_environment().engine == "spark"
    assert Settings.from_environment(engine="duckdb").engine == "duckdb", "explicit wins"
    monkeypatch.setenv(ENGINE_ENV, "oracle")
    with pytest.raises(UnknownEngine, match=r"TENANTPROOF_ENGINE='oracle' .* duckdb, spark"):
        Settings.from_environment()
    assert cli_main(["summary"]) == 2
    assert "TENANTPROOF_ENGINE='oracle' is not a known engine" in capsys.readouterr().err


def test_a_spark_engine_without_its_software_is_refused_before_any_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util
    import shutil

    require_engine("duckdb")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EngineUnavailable, match=r"spark needs the Spark extras .* and a Java"):
        require_engine("spark")
    monkeypatch.setenv("JAVA_HOME", "/usr/lib/jvm/default")
    with pytest.raises(EngineUnavailable, match=r"=spark needs the Spark extras \(pip install"):
        require_engine("spark")


def test_the_raw_tables_handed_to_spark_are_those_the_models_read() -> None:
    manifest = json.loads((PROJECT_DIR / "target" / "manifest.json").read_text("utf-8"))
    read = {
        manifest["sources"][parent]["name"]
        for node in manifest["nodes"].values()
        for parent in node.get("depends_on", {}).get("nodes", [])
        if parent.startswith("source.")
    }
    assert read == set(SPARK_RAW_TABLES)


def test_raw_handoff_and_mount_round_trip(tmp_path: Path) -> None:
    home = Home(tmp_path).ensure()
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema raw")
    for table in SPARK_RAW_TABLES:
        con.execute(f"create table raw.{table} (id varchar, seen_at timestamp)")
    con.execute("insert into raw.tenants values ('t1', '2026-10-01 08:00:00')")
    rows = hand_raw_to_spark(con, home)
    assert rows["tenants"] == 1 and rows["audit_events"] == 0
    assert sorted(p.name for p in spark_raw_dir(home).iterdir()) == sorted(SPARK_RAW_TABLES)
    # a second handoff replaces each table whole
    con.execute("insert into raw.tenants values ('t2', '2026-10-02 08:00:00')")
    assert hand_raw_to_spark(con, home)["tenants"] == 2
    assert list((spark_raw_dir(home) / "tenants").iterdir()) == [
        spark_raw_dir(home) / "tenants" / "part-0.parquet"
    ]

    # Spark writes timestamps as UTC instants; the mounted view gives plain UTC timestamps
    folder = spark_relations_dir(home) / "marts" / "fct_example"
    folder.mkdir(parents=True)
    con.execute(
        f"copy (select 't1' as tenant_id, timestamptz '2026-10-01 08:00:00+00' as seen_at) "
        f"to '{folder}/part-00000.parquet' (format parquet)"
    )
    con.execute("create schema marts")
    con.execute("create table marts.fct_example as select 'stale' as tenant_id")
    assert mount_spark_relations(con, home) == ["marts.fct_example"]
    kind = con.execute(
        "select table_type from information_schema.tables where table_name = 'fct_example'"
    ).fetchone()[0]
    assert kind == "VIEW"
    assert con.execute("select typeof(seen_at), * from marts.fct_example").fetchall() == [
        ("TIMESTAMP", "t1", datetime(2026, 10, 1, 8, 0))
    ]


def test_changing_the_engine_rebuilds_the_incremental_marts_in_full(tmp_path: Path) -> None:
    home = Home(tmp_path).ensure()
    record_build(home, "v1", full_refresh=True, engine="duckdb")
    assert full_refresh_reason(home, "v1", "duckdb") is None
    assert full_refresh_reason(home, "v1", "spark") == "engine changed from duckdb to spark"
    record_build(home, "v1", full_refresh=True, engine="spark")
    assert full_refresh_reason(home, "v1", "spark") is None
