"""Where every loaded row went (DESIGN principle 6): a tenant's rows, shared-service rows fanned
out to the tenants they apply to, or an exclusion with a reason. Read after a build.

Each count comes from its own place: rows read from the file ledger (counted in each file when it
loaded, less the rows deletion and retention removed since), rows loaded from the raw table, rows
quarantined from the quarantine. A row lost after loading, or a purge the ledger did not follow,
shows as a source that does not balance."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from tenantproof.core.catalog import models_with
from tenantproof.ingest.ledger import LEDGER

# The sources whose rows the marts account for, in the report's order.
SOURCES = ("audit_events", "evidence_events", "access_history")


@dataclass(frozen=True)
class SourceReconciliation:
    source: str
    read: int
    loaded: int
    quarantined: int
    tenant_rows: int
    global_rows_applied: int
    global_rows_excluded: int

    @property
    def balanced(self) -> bool:
        return self.read == self.loaded + self.quarantined and self.loaded == (
            self.tenant_rows + self.global_rows_applied + self.global_rows_excluded
        )


def _counted(con: duckdb.DuckDBPyConnection, source: str, counts: str) -> int | None:
    """The rows the models tagged ``reconcile: {counts}`` hold for this source (dbt meta), or
    None when no model counts them."""
    total = None
    for model, entries in models_with("reconcile"):
        for entry in entries:
            if entry["counts"] != counts or entry["source"] not in (source, "*"):
                continue
            what = f"count(distinct {entry['distinct']})" if entry.get("distinct") else "count(*)"
            where = [f"({entry['where']})"] if entry.get("where") else []
            params = []
            if entry["source"] == "*":
                where.append("source = ?")
                params.append(source)
            sql = f"select {what} from {model.relation}"
            if where:
                sql += " where " + " and ".join(where)
            total = (total or 0) + int(con.execute(sql, params).fetchone()[0])
    return total


def reconcile(con: duckdb.DuckDBPyConnection) -> list[SourceReconciliation]:
    out = []
    for source in SOURCES:
        read, loaded, quarantined = con.execute(
            f"""select
                (select coalesce(sum(rows_read), 0) from {LEDGER}
                 where coalesce(entity, source) = $s),
                (select count(*) from raw.{source}),
                (select count(*) from raw.quarantine where coalesce(entity, source) = $s)""",
            {"s": source},
        ).fetchone()
        tenant_rows = _counted(con, source, "tenant_rows") or 0
        applied = _counted(con, source, "global_rows_applied")
        # exclusions count only for a source whose global rows fan out to tenants
        excluded = 0 if applied is None else _counted(con, source, "global_rows_excluded") or 0
        out.append(
            SourceReconciliation(
                source,
                int(read),
                int(loaded),
                int(quarantined),
                tenant_rows,
                applied or 0,
                excluded,
            )
        )
    return out
