"""Retention (spec §2.4, §5.5): rows older than their tenant class's window are purged.

Each class's ``retention_days`` (seeds/tenant_class_policies.csv) sets a cutoff, ``as_of`` minus
the window. The purge deletes every older row of the class's tenants from the raw tables, the
quarantine (by the time a line was quarantined, for lines that name a registered tenant) and the
marts that keep them (so an incremental mart does not hold them until its next full rebuild), in
one transaction in which the file ledger follows the rows as in a tenant deletion, so the
ledger's read = loaded + quarantined still balances. Each tenant that lost rows gets a signed
purge record (``tenantproof.erasure.certificates.write_purge_record``) with its counts before
and after and the queries that show nothing older remains.

A purge stopped after its commit must not lose its records: the counts before and the tenants
concerned are written to ``<home>/deletions/retention-pending.json`` before the transaction,
which also records the purge's id and the counts it leaves in ``raw.retention_purges``. The
next purge finishes a pending one whose id is there (it committed) and drops one whose id is not
(it rolled back). Pure logic; Dagster runs it in ``orchestration/retention.py``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from exports.signing import ExportSigner
from tenantproof.core.catalog import models_with
from tenantproof.core.files import write_atomic
from tenantproof.core.home import Home
from tenantproof.core.policy import Policy
from tenantproof.core.sources import SOURCES
from tenantproof.erasure.certificates import Check, write_purge_record
from tenantproof.ingest.ledger import unledger_quarantined, unledger_rows

# Which time column ages each source's rows: one place.
RAW_TIME_COLUMNS = {
    "audit_events": "occurred_at",
    "access_history": "accessed_at",
    "evidence_events": "observed_at",
    "incidents": "detected_at",
}
QUARANTINE = "raw.quarantine"
PURGES = "raw.retention_purges"  # ids of committed purges (see the module's docstring)
PENDING = "retention-pending.json"


@dataclass(frozen=True)
class PurgeTable:
    """A purgeable table: the column naming the tenant and the one that ages a row."""

    name: str
    tenant_column: str
    time_column: str

    def expired(self) -> str:
        return (
            f"from {self.name} t join _retention_cutoffs c "
            f"on t.{self.tenant_column} = c.tenant_id where t.{self.time_column} < c.cutoff"
        )


@dataclass
class TenantPurge:
    tenant_id: str
    tenant_class: str
    retention_days: int
    cutoff: datetime
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (before, after)
    record: Path | None = None

    @property
    def removed(self) -> int:
        return sum(before - after for before, after in self.tables.values())


@dataclass(frozen=True)
class Violation:
    """Rows of a tenant held past its class's window."""

    tenant_id: str
    tenant_class: str
    table: str
    rows: int
    oldest: datetime

    def __str__(self) -> str:
        return (
            f"tenant {self.tenant_id} (class {self.tenant_class}): {self.rows} row(s) in "
            f"{self.table} older than its retention window, oldest {self.oldest:%Y-%m-%d}"
        )


def _tables(con: duckdb.DuckDBPyConnection) -> list[PurgeTable]:
    """Every purgeable base table that exists."""
    present = {
        f"{s}.{n}"
        for s, n in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() and table_type = 'BASE TABLE'"
        ).fetchall()
    }
    wanted = [PurgeTable(SOURCES[s].raw_table, "tenant_id", c) for s, c in RAW_TIME_COLUMNS.items()]
    wanted.append(PurgeTable(QUARANTINE, "tenant_hint", "quarantined_at"))
    # The marts that keep the same rows (dbt meta ``retention_column``); purged too when they are
    # tables (a view follows by itself). The shared-evidence and incident marts fan global rows
    # out to tenants on every build, so their models also keep only each tenant's window: a
    # rebuild never brings purged rows back.
    wanted += [
        PurgeTable(model.relation, "tenant_id", column)
        for model, column in models_with("retention_column")
    ]
    return [t for t in wanted if t.name in present]


def _cutoffs(
    con: duckdb.DuckDBPyConnection, policy: Policy, as_of: datetime
) -> list[tuple[str, str, int, datetime]]:
    """(tenant, class, retention_days, cutoff) for every registered tenant."""
    out = []
    for tenant_id, tenant_class in con.execute(
        "select tenant_id, tenant_class from raw.tenants order by tenant_id"
    ).fetchall():
        row = policy.require_class(tenant_class, tenant_id)
        days = int(row["retention_days"])
        out.append((tenant_id, tenant_class, days, as_of - timedelta(days=days)))
    return out


def _load_cutoffs(con: duckdb.DuckDBPyConnection, cutoffs: list) -> None:
    con.execute(
        "create or replace temp table _retention_cutoffs "
        "(tenant_id varchar, tenant_class varchar, retention_days integer, cutoff timestamp)"
    )
    if cutoffs:
        con.executemany("insert into _retention_cutoffs values (?, ?, ?, ?)", cutoffs)


def retention_violations(
    con: duckdb.DuckDBPyConnection, policy: Policy, as_of: datetime
) -> list[Violation]:
    """Rows still held past their tenant's window, per tenant and table: each names the tenant."""
    _load_cutoffs(con, _cutoffs(con, policy, as_of))
    out = []
    for table in _tables(con):
        sql = (
            f"select c.tenant_id, c.tenant_class, count(*), min(t.{table.time_column}) "
            f"{table.expired()} group by all order by 1"
        )
        for tenant_id, tenant_class, rows, oldest in con.execute(sql).fetchall():
            out.append(Violation(tenant_id, tenant_class, table.name, int(rows), oldest))
    return out


def _counts(
    con: duckdb.DuckDBPyConnection, tables: list[PurgeTable], tenants: list[str]
) -> dict[str, dict[str, int]]:
    """tenant -> table -> rows of the tenant."""
    found: dict[str, dict[str, int]] = {t: {} for t in tenants}
    for table in tables:
        for tenant_id, n in con.execute(
            f"select {table.tenant_column}, count(*) from {table.name} "
            f"where {table.tenant_column} in (select unnest(?::varchar[])) group by all",
            [tenants],
        ).fetchall():
            found[tenant_id][table.name] = int(n)
    return {t: {x.name: found[t].get(x.name, 0) for x in tables} for t in tenants}


def _unledger(con: duckdb.DuckDBPyConnection, tables: list[PurgeTable]) -> None:
    """The ledger follows the rows (as tenantproof.erasure.deletion does for a deleted tenant):
    a raw row leaves its file's read and loaded counts, a quarantined line its read and quarantined
    counts (the load of the same file and time, else the file's latest)."""
    names = {t.name for t in tables}
    for source, column in RAW_TIME_COLUMNS.items():
        raw = SOURCES[source].raw_table
        if raw not in names:
            continue
        table = PurgeTable(raw, "tenant_id", column)
        unledger_rows(
            con, source, f"select t._sha256, count(*) as n {table.expired()} group by t._sha256"
        )
    if QUARANTINE not in names:
        return
    table = PurgeTable(QUARANTINE, "tenant_hint", "quarantined_at")
    lines = con.execute(
        f"select t.source, t.file, t.quarantined_at, count(*) {table.expired()} group by all"
    ).fetchall()
    unledger_quarantined(con, lines)


def _write_pending(path: Path, document: dict) -> None:
    write_atomic(path, json.dumps(document, indent=2))


def _ensure_purges(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"create table if not exists {PURGES} "
        "(purge_id varchar, committed_at timestamp, counts_after varchar)"
    )


def _committed(con: duckdb.DuckDBPyConnection, purge_id: str) -> dict[str, dict[str, int]] | None:
    """The counts after the purge, per tenant and table, stored with its id in the purge's
    transaction; None if the purge never committed."""
    _ensure_purges(con)
    row = con.execute(
        f"select counts_after from {PURGES} where purge_id = ?", [purge_id]
    ).fetchone()
    return None if row is None else json.loads(row[0])


def _write_records(
    con: duckdb.DuckDBPyConnection,
    home: Home,
    pending: dict,
    path: Path,
    signer: ExportSigner | None,
) -> dict[str, Path]:
    """A signed record per tenant of a committed purge (skipping those already written), then
    the pending file goes."""
    tables = [PurgeTable(*t) for t in pending["tables"]]
    after = _committed(con, pending["purge_id"]) or {}  # as the purge left them, not as now
    written: dict[str, Path] = {}
    for tenant_id, entry in sorted(pending["tenants"].items()):
        if entry.get("record"):
            written[tenant_id] = home.root / entry["record"]
            continue
        cutoff = datetime.fromisoformat(entry["cutoff"])
        checks = [
            Check(
                f"no row of {tenant_id} in {t.name} older than {cutoff:%Y-%m-%d %H:%M:%S}",
                f"select count(*) from {t.name} where {t.tenant_column} = '{tenant_id}' "
                f"and {t.time_column} < '{cutoff:%Y-%m-%d %H:%M:%S}'",
                int(
                    con.execute(
                        f"select count(*) from {t.name} where {t.tenant_column} = ? "
                        f"and {t.time_column} < ?",
                        [tenant_id, cutoff],
                    ).fetchone()[0]
                ),
            )
            for t in tables
        ]
        record = write_purge_record(
            home,
            tenant_id,
            {t.name: (entry["before"][t.name], after[tenant_id][t.name]) for t in tables},
            policy={
                "tenant_class": entry["tenant_class"],
                "retention_days": entry["retention_days"],
                "policy_version": pending["policy_version"],
            },
            cutoff=cutoff,
            requested_by=pending["requested_by"],
            checks=checks,
            signer=signer,
        )
        entry["record"] = str(record.relative_to(home.root))
        _write_pending(path, pending)
        written[tenant_id] = record
    path.unlink()
    return written


def finish_pending_purge(
    con: duckdb.DuckDBPyConnection, home: Home, signer: ExportSigner | None = None
) -> dict[str, Path]:
    """Complete the records of a purge stopped after its commit; forget one that rolled back.
    Returns tenant -> record written or found."""
    path = home.deletions / PENDING
    if not path.exists():
        return {}
    pending = json.loads(path.read_text(encoding="utf-8"))
    if _committed(con, pending["purge_id"]) is None:
        path.unlink()
        return {}
    return _write_records(con, home, pending, path, signer)


def purge_expired(
    con: duckdb.DuckDBPyConnection,
    home: Home,
    policy: Policy,
    as_of: datetime,
    *,
    signer: ExportSigner | None = None,
    requested_by: str = "retention",
) -> list[TenantPurge]:
    """Delete every row older than its tenant's window, in one transaction; a signed record per
    tenant that lost rows. Returns one entry per registered tenant (removed may be 0)."""
    recovered = finish_pending_purge(con, home, signer)
    cutoffs = _cutoffs(con, policy, as_of)
    _load_cutoffs(con, cutoffs)
    tables = _tables(con)
    purges = {t: TenantPurge(t, cls, days, cut) for t, cls, days, cut in cutoffs}
    before = _counts(con, tables, sorted(purges))
    expiring = {
        tenant_id
        for table in tables
        for (tenant_id,) in con.execute(f"select distinct c.tenant_id {table.expired()}").fetchall()
    }
    if not expiring:
        for tenant_id, purge in purges.items():
            purge.tables = {t: (n, n) for t, n in before[tenant_id].items()}
            purge.record = recovered.get(tenant_id)
        return [purges[t] for t in sorted(purges)]
    path = home.deletions / PENDING
    pending = {
        "purge_id": uuid.uuid4().hex,
        "as_of": as_of.isoformat(),
        "requested_by": requested_by,
        "policy_version": policy.version,
        "tables": [[t.name, t.tenant_column, t.time_column] for t in tables],
        "tenants": {
            t: {
                "tenant_class": purges[t].tenant_class,
                "retention_days": purges[t].retention_days,
                "cutoff": purges[t].cutoff.isoformat(),
                "before": before[t],
            }
            for t in sorted(expiring)
        },
    }
    _ensure_purges(con)  # before the transaction, which inserts into it
    _write_pending(path, pending)
    con.execute("begin transaction")
    try:
        _unledger(con, tables)
        for table in tables:
            con.execute(
                f"delete from {table.name} t using _retention_cutoffs c "
                f"where t.{table.tenant_column} = c.tenant_id "
                f"and t.{table.time_column} < c.cutoff"
            )
        counts_after = _counts(con, tables, sorted(pending["tenants"]))
        con.execute(
            f"insert into {PURGES} values (?, now(), ?)",
            [pending["purge_id"], json.dumps(counts_after)],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        path.unlink(missing_ok=True)
        raise
    records = _write_records(con, home, pending, path, signer)
    after = _counts(con, tables, sorted(purges))
    for tenant_id, purge in purges.items():
        purge.tables = {
            t.name: (before[tenant_id][t.name], after[tenant_id][t.name]) for t in tables
        }
        purge.record = records.get(tenant_id) or recovered.get(tenant_id)
    return [purges[t] for t in sorted(purges)]
