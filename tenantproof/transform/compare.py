"""Row-by-row comparison of what two engines built from the same landing data.

Every mart and export-shaped relation a Spark build handed back (``<home>/spark/relations``)
is compared with the relation of the same name in a DuckDB-built warehouse: same columns, and
the same multiset of rows (``except all`` both ways). Floating-point columns are compared at
9 decimal places, since the engines may sum doubles in a different order; lists as they are.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from exports.verify import decrypt_csv, parquet_decryption
from tenantproof.core.warehouse import sql_literal
from tenantproof.transform.engine import SPARK_HANDOFF_SCHEMAS

FLOAT_DIGITS = 9


@dataclass
class RelationDiff:
    relation: str
    duckdb_rows: int
    spark_rows: int
    only_in_duckdb: int = 0
    only_in_spark: int = 0
    column_problems: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def differences(self) -> int:
        return self.only_in_duckdb + self.only_in_spark + len(self.column_problems)

    def __str__(self) -> str:
        text = (
            f"{self.relation}: duckdb {self.duckdb_rows} rows, spark {self.spark_rows} rows, "
            f"{self.only_in_duckdb} only in duckdb, {self.only_in_spark} only in spark"
        )
        if self.column_problems:
            text += "; columns: " + "; ".join(self.column_problems)
        return text


def _normalised(name: str, typ: str) -> str:
    col = f'"{name}"'
    if typ.startswith("TIMESTAMP"):
        return f"cast({col} as timestamp) as {col}"
    if typ in ("DOUBLE", "FLOAT", "REAL") or typ.startswith("DECIMAL"):
        return f"round(cast({col} as double), {FLOAT_DIGITS}) as {col}"
    if typ in ("HUGEINT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"):
        return f"cast({col} as bigint) as {col}"
    return col


def compare_relation(
    con: duckdb.DuckDBPyConnection, relation: str, spark_folder: Path
) -> RelationDiff:
    """``con``: a connection to the DuckDB-built warehouse; ``relation``: schema.name."""
    spark_sql = f"select * from read_parquet({sql_literal(str(spark_folder / '*.parquet'))})"
    duck_cols = {n: t for n, t, *_ in con.execute(f"describe {relation}").fetchall()}
    spark_cols = {n: t for n, t, *_ in con.execute(f"describe {spark_sql}").fetchall()}
    diff = RelationDiff(
        relation,
        con.execute(f"select count(*) from {relation}").fetchone()[0],
        con.execute(f"select count(*) from ({spark_sql})").fetchone()[0],
    )
    for name in sorted(set(duck_cols) - set(spark_cols)):
        diff.column_problems.append(f"{name} missing on spark")
    for name in sorted(set(spark_cols) - set(duck_cols)):
        diff.column_problems.append(f"{name} missing on duckdb")
    shared = [n for n in duck_cols if n in spark_cols]
    left = f"select {', '.join(_normalised(n, duck_cols[n]) for n in shared)} from {relation}"
    right = f"select {', '.join(_normalised(n, spark_cols[n]) for n in shared)} from ({spark_sql})"
    for label, query in (
        ("duckdb", f"({left}) except all ({right})"),
        ("spark", f"({right}) except all ({left})"),
    ):
        # one pass per direction: the count of differing rows and the first few of them
        rows = con.execute(f"select count(*) over (), * from ({query}) limit 3").fetchall()
        setattr(diff, f"only_in_{label}", rows[0][0] if rows else 0)
        for _, *values in rows:
            diff.examples.append(f"only in {label}: {dict(zip(shared, values, strict=True))}")
    return diff


def compare_engines(con: duckdb.DuckDBPyConnection, relations_root: Path) -> list[RelationDiff]:
    """Every handed-back relation against the DuckDB warehouse, and every DuckDB mart or
    export-shaped relation that Spark did not hand back counted as a difference."""
    diffs = []
    for schema in SPARK_HANDOFF_SCHEMAS:
        duck = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [schema],
            ).fetchall()
        }
        folder = relations_root / schema
        spark = {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()
        for name in sorted(duck | spark):
            relation = f"{schema}.{name}"
            if name not in spark or name not in duck:
                missing = "spark" if name not in spark else "duckdb"
                diffs.append(RelationDiff(relation, 0, 0, column_problems=[f"not on {missing}"]))
                continue
            diffs.append(compare_relation(con, relation, folder / name))
    return diffs


@dataclass
class BundleDiff:
    bundle: str  # region/tenant/period
    problems: list[str] = field(default_factory=list)

    @property
    def differences(self) -> int:
        return len(self.problems)

    def __str__(self) -> str:
        return f"{self.bundle}: " + ("; ".join(self.problems) or "same rows")


def _bundles(root: Path) -> dict[str, Path]:
    return {
        str(manifest.parent.relative_to(root)): manifest.parent
        for manifest in root.rglob("manifest.json")
    }


def _file_rows(folder: Path, entry: dict, keys: dict[str, str], tenant: str) -> list[tuple]:
    """The rows of one data file of a bundle, decrypted with the tenant's key when sealed."""
    path = folder / entry["name"]
    key = keys.get(tenant) if entry.get("encrypted") else None
    if entry["format"] == "parquet":
        props = parquet_decryption(tenant, key) if key else None
        table = pq.read_table(path, partitioning=None, decryption_properties=props)
        schema = tuple(f"{column.name}: {column.type}" for column in table.schema)
        return [schema] + sorted(tuple(str(v) for v in row.values()) for row in table.to_pylist())
    data = decrypt_csv(path.read_bytes(), key, path.name) if key else path.read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return [tuple(rows[0])] + sorted(tuple(r) for r in rows[1:]) if rows else []


def compare_bundles(
    duckdb_exports: Path,
    spark_exports: Path,
    duckdb_keys: dict[str, str],
    spark_keys: dict[str, str],
) -> list[BundleDiff]:
    """The published bundles of two exports folders, bundle by bundle: the same data files,
    and each file with the same rows (Parquet by value, CSV by its text, header first), each
    side decrypted with its own home's tenant encryption keys."""
    left, right = _bundles(duckdb_exports), _bundles(spark_exports)
    diffs = []
    for name in sorted(set(left) | set(right)):
        diff = BundleDiff(name)
        diffs.append(diff)
        if name not in left or name not in right:
            diff.problems.append(f"published by {'spark' if name in right else 'duckdb'} only")
            continue
        manifests = [
            json.loads((folder / "manifest.json").read_text("utf-8"))
            for folder in (left[name], right[name])
        ]
        tenant = manifests[0]["tenant_id"]
        files = [{e["name"]: e for e in m["files"] if e.get("rows") is not None} for m in manifests]
        for file_name in sorted(set(files[0]) | set(files[1])):
            if file_name not in files[0] or file_name not in files[1]:
                diff.problems.append(f"{file_name} in one bundle only")
                continue
            a = _file_rows(left[name], files[0][file_name], duckdb_keys, tenant)
            b = _file_rows(right[name], files[1][file_name], spark_keys, tenant)
            if a != b:
                only_a = len(set(a) - set(b))
                only_b = len(set(b) - set(a))
                diff.problems.append(
                    f"{file_name}: {len(a)} vs {len(b)} rows, {only_a} only from duckdb, "
                    f"{only_b} only from spark"
                )
    return diffs
