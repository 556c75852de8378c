"""Retention (spec §2.4, §5.5): rows older than their tenant class's window are purged.

Each class's ``retention_days`` (seeds/tenant_class_policies.csv) sets a cutoff, ``as_of`` minus
the window. The purge deletes every older row of the class's tenants from the raw tables and the
marts that keep them (so an incremental mart does not hold them until its next full rebuild), in
one transaction in which the file ledger follows the rows as in a tenant deletion, so the
ledger's read = loaded + quarantined still balances. Each tenant that lost rows gets a signed
purge record (``tenantproof.certificates.write_purge_record``) with its counts before and after
and the query that shows nothing older remains. Pure logic; Dagster runs it in
``orchestration/retention.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from exports.signing import ExportSigner
from tenantproof.certificates import Check, write_purge_record
from tenantproof.deletion import LEDGER
from tenantproof.policy import Policy
from tenantproof.sources import SOURCES

AS_OF_ENV = "TENANTPROOF_AS_OF"  # the same instant the dbt marts use (macros/drift.sql)
# Which time column ages each source's rows: one place.
RAW_TIME_COLUMNS = {
    "audit_events": "occurred_at",
    "access_history": "accessed_at",
    "evidence_events": "observed_at",
    "incidents": "detected_at",
}
# Marts that keep the same rows; purged too when they are tables (a view follows by itself).
MART_TIME_COLUMNS = {
    "marts.fct_audit_events": "occurred_at",
    "marts.fct_access_history": "accessed_at",
    "marts.fct_evidence": "observed_at",
}


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


def default_as_of(now: datetime | None = None) -> datetime:
    """``TENANTPROOF_AS_OF`` (as dbt reads it), else now: purge and drift flags agree."""
    raw = os.environ.get(AS_OF_ENV, "").strip()
    if raw:
        return datetime.fromisoformat(raw).replace(tzinfo=None)
    return (now or datetime.now(UTC)).replace(tzinfo=None)


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every purgeable base table that exists, with its time column."""
    present = {
        f"{s}.{n}"
        for s, n in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() and table_type = 'BASE TABLE'"
        ).fetchall()
    }
    wanted = {SOURCES[s].raw_table: c for s, c in RAW_TIME_COLUMNS.items()}
    wanted.update(MART_TIME_COLUMNS)
    return {t: c for t, c in wanted.items() if t in present}


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


def _expired(table: str, column: str) -> str:
    return (
        f"from {table} t join _retention_cutoffs c on t.tenant_id = c.tenant_id "
        f"where t.{column} < c.cutoff"
    )


def retention_violations(
    con: duckdb.DuckDBPyConnection, policy: Policy, as_of: datetime
) -> list[Violation]:
    """Rows still held past their tenant's window, per tenant and table: each names the tenant."""
    _load_cutoffs(con, _cutoffs(con, policy, as_of))
    out = []
    for table, column in _tables(con).items():
        sql = (
            f"select t.tenant_id, c.tenant_class, count(*), min(t.{column}) "
            f"{_expired(table, column)} group by all order by 1"
        )
        for tenant_id, tenant_class, rows, oldest in con.execute(sql).fetchall():
            out.append(Violation(tenant_id, tenant_class, table, int(rows), oldest))
    return out


def purge_expired(
    con: duckdb.DuckDBPyConnection,
    home,
    policy: Policy,
    as_of: datetime,
    *,
    signer: ExportSigner | None = None,
    requested_by: str = "retention",
) -> list[TenantPurge]:
    """Delete every row older than its tenant's window, in one transaction; a signed record per
    tenant that lost rows. Returns one entry per registered tenant (removed may be 0)."""
    cutoffs = _cutoffs(con, policy, as_of)
    _load_cutoffs(con, cutoffs)
    tables = _tables(con)
    purges = {t: TenantPurge(t, cls, days, cut) for t, cls, days, cut in cutoffs}

    def counts() -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for table in tables:
            for tenant_id, n in con.execute(
                f"select tenant_id, count(*) from {table} "
                "where tenant_id in (select tenant_id from _retention_cutoffs) group by all"
            ).fetchall():
                found[(tenant_id, table)] = int(n)
        return found

    before = counts()
    con.execute("begin transaction")
    try:
        for source, column in RAW_TIME_COLUMNS.items():
            raw = SOURCES[source].raw_table
            if raw not in tables:
                continue
            # The ledger follows the rows (as tenantproof.deletion does for a deleted tenant).
            con.execute(
                f"""update {LEDGER} l set rows_read = l.rows_read - d.n,
                        rows_loaded = l.rows_loaded - d.n
                    from (select t._sha256, count(*) as n {_expired(raw, column)}
                          group by t._sha256) d
                    where l.source = ? and l.sha256 = d._sha256""",
                [source],
            )
        for table, column in tables.items():
            con.execute(
                f"delete from {table} t using _retention_cutoffs c "
                f"where t.tenant_id = c.tenant_id and t.{column} < c.cutoff"
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    after = counts()
    for tenant_id, purge in purges.items():
        purge.tables = {
            table: (before.get((tenant_id, table), 0), after.get((tenant_id, table), 0))
            for table in tables
        }
        if purge.removed == 0:
            continue
        checks = [
            Check(
                f"no row of {tenant_id} in {table} older than {purge.cutoff:%Y-%m-%d %H:%M:%S}",
                f"select count(*) from {table} where tenant_id = '{tenant_id}' "
                f"and {column} < '{purge.cutoff:%Y-%m-%d %H:%M:%S}'",
                int(
                    con.execute(
                        f"select count(*) from {table} where tenant_id = ? and {column} < ?",
                        [tenant_id, purge.cutoff],
                    ).fetchone()[0]
                ),
            )
            for table, column in tables.items()
        ]
        purge.record = write_purge_record(
            home,
            tenant_id,
            purge.tables,
            policy={
                "tenant_class": purge.tenant_class,
                "retention_days": purge.retention_days,
                "policy_version": policy.version,
            },
            cutoff=purge.cutoff,
            requested_by=requested_by,
            checks=checks,
            signer=signer,
        )
    return [purges[t] for t in sorted(purges)]
