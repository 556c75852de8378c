"""Staging: every requested tenant x period bundle written in one pass per file kind.

Each export-shaped relation is read once through the tenant scope, for all tenants and periods
of the run, and written with one partitioned COPY per format (DESIGN principle 5). The
partition folders DuckDB writes are then moved into the bundle layout
``<staging>/<region>/<tenant_id>/<period>/<kind>.<format>``. Nothing here is published: that
happens only after validation (``exports.publish``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from exports.contract import FORMULA_START
from exports.scope import BUNDLE_RELATIONS, CrossTenantAccess, TenantScope
from tenantproof.core.warehouse import sql_literal

FORMATS = ("parquet", "csv")
# Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).


@dataclass
class StagedBundle:
    tenant_id: str
    tenant_class: str
    residency_region: str
    redaction_profile: str
    period: str
    path: Path
    files: dict[str, Path] = field(default_factory=dict)  # file name -> path

    @property
    def key(self) -> str:
        return f"{self.tenant_id}|{self.period}"


def _partition_values(path: Path, root: Path) -> dict[str, str]:
    values = {}
    for part in path.relative_to(root).parts[:-1]:
        name, _, value = part.partition("=")
        values[name] = value
    return values


def _csv_select(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The batch with every text cell neutralised against formula injection."""
    cols = []
    for name, typ, *_ in con.execute(f"describe {table}").fetchall():
        if typ == "VARCHAR":
            starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_START)
            cols.append(
                f"case when left({name}, 1) in ({starts}) then '''' || {name} "
                f"else {name} end as {name}"
            )
        else:
            cols.append(name)
    return f"select {', '.join(cols)} from {table}"


def stage_bundles(scope: TenantScope, staging_root: Path) -> list[StagedBundle]:
    """Write every bundle of the scope under ``staging_root``; return them, not yet validated."""
    con = scope.con
    if staging_root.exists():
        shutil.rmtree(staging_root)
    parts_root = staging_root / "_parts"
    parts_root.mkdir(parents=True)

    registry = {row["tenant_id"]: row for row in scope.read("registry").to_pylist()}
    unregistered = [t for t in scope.tenants if t not in registry]
    if unregistered:
        raise CrossTenantAccess(f"{len(unregistered)} tenant(s) in the scope are not registered")
    bundles = {}
    for tenant_id in scope.tenants:
        info = registry[tenant_id]
        for period in scope.periods:
            path = staging_root / info["residency_region"] / tenant_id / period
            path.mkdir(parents=True)
            bundles[f"{tenant_id}|{period}"] = StagedBundle(
                tenant_id,
                info["tenant_class"],
                info["residency_region"],
                info["redaction_profile"],
                period,
                path,
            )

    for rel in BUNDLE_RELATIONS:
        query, params = scope.sql(rel.name)
        if rel.periodic:
            con.execute(f"create or replace temp table _batch as {query}", params)
        else:
            con.execute(
                f"""create or replace temp table _batch as
                select s.tenant_id, p.period, s.* exclude (tenant_id)
                from ({query}) s cross join (select unnest(?) as period) p""",
                [*params, scope.periods],
            )
        for fmt in FORMATS:
            target = parts_root / rel.name / fmt
            target.parent.mkdir(parents=True, exist_ok=True)
            select = "select * from _batch" if fmt == "parquet" else _csv_select(con, "_batch")
            options = "format parquet" if fmt == "parquet" else "format csv, header true"
            rows = con.execute(
                f"""copy ({select}) to {sql_literal(str(target))} ({options},
                    partition_by (tenant_id, period), write_partition_columns true,
                    return_files true)"""
            ).fetchall()
            for written in rows[0][1] if rows else []:
                source = Path(written)
                values = _partition_values(source, target)
                bundle = bundles.get(f"{values['tenant_id']}|{values['period']}")
                if bundle is None:
                    raise CrossTenantAccess(
                        "the scoped read returned rows outside the scope",
                        tenants=[values["tenant_id"]],
                    )
                name = f"{rel.name}.{fmt}"
                if name in bundle.files:
                    raise RuntimeError(f"{name}: more than one file written for one bundle")
                bundle.files[name] = source.replace(bundle.path / name)
            for bundle in bundles.values():
                name = f"{rel.name}.{fmt}"
                if name not in bundle.files:
                    empty = bundle.path / name
                    con.execute(f"copy ({select} limit 0) to {sql_literal(str(empty))} ({options})")
                    bundle.files[name] = empty
        con.execute("drop table _batch")
    shutil.rmtree(parts_root)
    return sorted(bundles.values(), key=lambda b: (b.tenant_id, b.period))
