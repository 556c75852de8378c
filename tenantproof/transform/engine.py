"""The engine that builds the dbt project: DuckDB (default) or Apache Spark.

The engine is a setting (``TENANTPROOF_ENGINE=duckdb|spark``, resolved by
``tenantproof.core.settings``); the models, the Dagster asset
graph and the export layer are the same for both. Ingest always loads landing files into the
raw tables of the DuckDB warehouse (file ledger, quarantine, counts). On Spark:

* before ``dbt build``, the raw tables the models read are handed to Spark as Parquet under
  ``<home>/spark/raw/<table>/`` (the dbt hook ``engine_on_run_start`` registers them);
* after a successful build, dbt's ``engine_on_run_end`` hook writes every mart and
  export-shaped relation as Parquet under ``<home>/spark/relations/<schema>/<name>/``;
* those relations are then mounted in the warehouse as views of the same names, so the export
  layer, validation, analytics and reconciliation read them exactly as they read DuckDB's own.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tenantproof.core.home import Home
from tenantproof.core.keys import HASH_KEYS, LocalKeyStore
from tenantproof.core.settings import ENGINE_ENV
from tenantproof.core.warehouse import sql_literal

if TYPE_CHECKING:  # the CLI checks the engine setting before anything heavy is imported
    import duckdb

# The raw tables the dbt models read (models/staging/_raw__sources.yml).
SPARK_RAW_TABLES = (
    "tenants",
    "tenant_hash_keys",
    "tenant_identifiers",
    "audit_events",
    "access_history",
    "evidence_events",
    "incidents",
    "isolation_incidents",
    "published_bundles",
)
# The schemas whose relations a Spark build hands back (dbt_project.yml, engine_on_run_end).
SPARK_HANDOFF_SCHEMAS = ("marts", "export")


class EngineUnavailable(RuntimeError):
    """The configured engine cannot run on this machine; the message says what is missing."""


def require_engine(engine: str) -> None:
    """Fail before any work when the engine's software is not here (Spark: the ``spark`` extra
    and a Java runtime), instead of halfway through a dbt build."""
    if engine != "spark":
        return
    missing = []
    if importlib.util.find_spec("pyspark") is None or (
        importlib.util.find_spec("dbt.adapters.spark") is None
    ):
        missing.append("the Spark extras (pip install -e '.[spark]', or make test-spark)")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing.append("a Java 17+ runtime (java on PATH, or JAVA_HOME)")
    if missing:
        raise EngineUnavailable(f"{ENGINE_ENV}=spark needs " + " and ".join(missing))


def dbt_target(engine: str) -> str:
    """The dbt target (profiles/profiles.yml) of an engine."""
    return engine


def spark_root(home: Home) -> Path:
    return home.root / "spark"


def spark_raw_dir(home: Home) -> Path:
    return spark_root(home) / "raw"


def spark_relations_dir(home: Home) -> Path:
    return spark_root(home) / "relations"


def hand_raw_to_spark(con: duckdb.DuckDBPyConnection, home: Home) -> dict[str, int]:
    """Write the raw tables the models read as Parquet for Spark; return rows per table. Each
    table is written beside its folder and swapped in whole, so Spark never reads half a table.
    The hashing keys are not in the warehouse: they come from the key store, into a folder and
    a file that only the owner can read."""
    root = spark_raw_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    rows = {}
    for table in SPARK_RAW_TABLES:
        target = root / table
        fresh = root / f".{table}.new"
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir()
        part = fresh / "part-0.parquet"
        if table == "tenant_hash_keys":
            rows[table] = _hand_hash_keys(home, part)
        else:
            copy = f"copy raw.{table} to {sql_literal(str(part))} (format parquet)"
            rows[table] = con.execute(copy).fetchone()[0]  # COPY returns the rows it wrote
        old = root / f".{table}.old"
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        fresh.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    return rows


def _hand_hash_keys(home: Home, target: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = LocalKeyStore(home.keys / HASH_KEYS).load()
    target.parent.chmod(0o700)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    columns = {"tenant_id": sorted(keys), "hash_key": [keys[t] for t in sorted(keys)]}
    pq.write_table(pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}), target)
    return len(keys)


def mount_spark_relations(con: duckdb.DuckDBPyConnection, home: Home) -> list[str]:
    """Create (or replace) a warehouse view for every relation a Spark build handed back.

    Spark writes timestamps as UTC instants; the views cast them back to the plain UTC
    timestamps of the contracts, so both engines' relations have the same column types."""
    mounted = []
    root = spark_relations_dir(home)
    for schema in SPARK_HANDOFF_SCHEMAS:
        folder = root / schema
        if not folder.is_dir():
            continue
        con.execute(f"create schema if not exists {schema}")
        for rel in sorted(p for p in folder.iterdir() if p.is_dir()):
            files = sql_literal(str(rel / "*.parquet"))
            columns = con.execute(f"describe select * from read_parquet({files})").fetchall()
            select = ", ".join(
                f'cast("{name}" as timestamp) as "{name}"'
                if typ.startswith("TIMESTAMP WITH TIME ZONE")
                else f'"{name}"'
                for name, typ, *_ in columns
            )
            existing = con.execute(
                "select table_type from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [schema, rel.name],
            ).fetchone()
            if existing and existing[0] != "VIEW":
                con.execute(f"drop table {schema}.{rel.name}")
            con.execute(
                f"create or replace view {schema}.{rel.name} as "
                f"select {select} from read_parquet({files})"
            )
            mounted.append(f"{schema}.{rel.name}")
    return mounted
