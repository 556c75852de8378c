"""Operational logs the drift analytics need from outside the warehouse.

Two facts are born outside dbt's inputs: a tenant isolation incident (the export's validation or
the tenant scope caught rows of another tenant) and a published bundle (a tenant audit export
that passed validation). The export writes the first to an append-only JSONL file
(``Home.isolation_log``), the second is each published ``manifest.json``. Each warehouse build
mirrors both into ``raw.isolation_incidents`` and ``raw.published_bundles`` (dbt sources), so the
drift and maturity marts can read them without the export ever holding the warehouse for them.
Counts, suite names and tenant ids only: no row values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tenantproof.core.files import write_atomic

ISOLATION_TABLE = "raw.isolation_incidents"
PUBLISHED_TABLE = "raw.published_bundles"
ISOLATION_COLUMNS: dict[str, pa.DataType] = {
    "incident_id": pa.string(),
    "detected_at": pa.timestamp("us"),
    "source": pa.string(),  # export_validation | tenant_scope
    "run_id": pa.string(),
    "tenant_id": pa.string(),  # one row per tenant of the incident
    "tenants_in_incident": pa.int64(),
    "failed_checks": pa.string(),  # '|'-separated suite or check names
    "failed_expectations": pa.int64(),
    "unexpected_rows": pa.int64(),
}
PUBLISHED_COLUMNS: dict[str, pa.DataType] = {
    "tenant_id": pa.string(),
    "period": pa.string(),
    "residency_region": pa.string(),
    "generated_at": pa.timestamp("us"),
    "run_id": pa.string(),
    "validation_success": pa.bool_(),
}
DDL_TYPES = {
    pa.string(): "varchar",
    pa.timestamp("us"): "timestamp",
    pa.int64(): "bigint",
    pa.bool_(): "boolean",
}


def _naive_utc(text: str | None) -> datetime | None:
    """ISO text (with or without offset) as naive UTC, the warehouse's convention."""
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def record_isolation_incident(
    log: Path,
    *,
    run_id: str,
    source: str,
    tenants: Sequence[str],
    failed_checks: Iterable[str],
    failed_expectations: int = 0,
    unexpected_rows: int = 0,
    detected_at: datetime | None = None,
) -> dict[str, Any]:
    """Append one incident; the line is written whole, so a reader never sees half of it."""
    entry = {
        "incident_id": f"{run_id}/{source}",
        "detected_at": (detected_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "source": source,
        "run_id": run_id,
        "tenants": sorted(set(tenants)),
        "failed_checks": sorted(set(failed_checks)),
        "failed_expectations": int(failed_expectations),
        "unexpected_rows": int(unexpected_rows),
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
    return entry


def read_isolation_incidents(log: Path) -> tuple[list[dict[str, Any]], int]:
    """The incidents, one row per tenant involved, and the number of unreadable lines."""
    rows: list[dict[str, Any]] = []
    unreadable = 0
    if not log.exists():
        return rows, unreadable
    for line in log.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            tenants = sorted(set(entry["tenants"]))
            base = {
                "incident_id": str(entry["incident_id"]),
                "detected_at": _naive_utc(entry["detected_at"]),
                "source": str(entry["source"]),
                "run_id": str(entry["run_id"]),
                "tenants_in_incident": len(tenants),
                "failed_checks": "|".join(entry.get("failed_checks", [])),
                "failed_expectations": int(entry.get("failed_expectations", 0)),
                "unexpected_rows": int(entry.get("unexpected_rows", 0)),
            }
        except (ValueError, KeyError, TypeError):
            unreadable += 1
            continue
        rows += [{**base, "tenant_id": t} for t in tenants]
    return rows, unreadable


def published_bundles(exports_root: Path) -> list[dict[str, Any]]:
    """One row per published bundle, from its manifest: the proof that an export exists."""
    rows = []
    for path in sorted(exports_root.glob("*/*/*/manifest.json")):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            rows.append(
                {
                    "tenant_id": manifest["tenant_id"],
                    "period": manifest["period"]["key"],
                    "residency_region": manifest["residency_region"],
                    "generated_at": _naive_utc(manifest.get("generated_at")),
                    "run_id": manifest.get("run_id"),
                    "validation_success": bool(manifest["validation"].get("success")),
                }
            )
        except (ValueError, KeyError, TypeError):
            continue  # not a bundle this reader understands: it proves nothing
    return rows


def _replace(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: dict[str, pa.DataType],
    rows: list[dict[str, Any]],
) -> None:
    ddl = ", ".join(f"{name} {DDL_TYPES[typ]}" for name, typ in columns.items())
    con.execute(f"create table if not exists {table} ({ddl})")
    data = pa.table(
        {name: pa.array([r.get(name) for r in rows], typ) for name, typ in columns.items()}
    )
    con.register("_oplog_rows", data)
    try:
        con.execute(f"delete from {table}")
        con.execute(f"insert into {table} select {', '.join(columns)} from _oplog_rows")
    finally:
        con.unregister("_oplog_rows")


def load_operational_logs(
    con: duckdb.DuckDBPyConnection, isolation_log: Path, exports_root: Path
) -> dict[str, int]:
    """Mirror both logs into their raw tables (replacing what was there: the files are the
    record) and return counts for the asset's metadata."""
    incidents, unreadable = read_isolation_incidents(isolation_log)
    bundles = published_bundles(exports_root)
    con.execute("create schema if not exists raw")
    con.execute("begin transaction")
    try:
        _replace(con, ISOLATION_TABLE, ISOLATION_COLUMNS, incidents)
        _replace(con, PUBLISHED_TABLE, PUBLISHED_COLUMNS, bundles)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return {
        "isolation_incident_rows": len(incidents),
        "isolation_log_unreadable_lines": unreadable,
        "published_bundles": len(bundles),
    }


def forget_tenant(log: Path, tenant_id: str) -> int:
    """Remove a deleted tenant from the isolation log (spec §5.5): its id leaves every entry,
    and an entry about it alone goes. Returns the entries changed or removed. The rewrite is
    atomic (a rename); lines this reader cannot parse are kept as they are."""
    if not log.exists():
        return 0
    kept, changed = [], 0
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            tenants = list(entry["tenants"])
        except (ValueError, KeyError, TypeError):
            kept.append(line)
            continue
        if tenant_id not in tenants:
            kept.append(line)
            continue
        changed += 1
        rest = [t for t in tenants if t != tenant_id]
        if rest:
            kept.append(json.dumps({**entry, "tenants": rest}, sort_keys=True))
    write_atomic(log, "".join(f"{line}\n" for line in kept))
    return changed
