"""Where every loaded row went (DESIGN principle 6): a tenant's rows, shared-service rows fanned
out to the tenants they apply to, or an exclusion with a reason. Read after a build.

Each count comes from its own place: rows read from the file ledger (counted in each file when it
loaded, less the rows deletion and retention removed since), rows loaded from the raw table, rows
quarantined from the quarantine. A row lost after loading, or a purge the ledger did not follow,
shows as a source that does not balance."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

# source -> (tenant-attributed rows in the marts, shared rows fanned out in the marts, key)
TRACKED = {
    "audit_events": (
        "marts.fct_audit_events where attribution = 'tenant'",
        "marts.fct_audit_events where attribution = 'global_scope'",
        "event_id",
    ),
    "evidence_events": ("marts.fct_evidence", "marts.fct_shared_service_evidence", "evidence_id"),
    "access_history": ("marts.fct_access_history", None, "access_id"),
}


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


def reconcile(con: duckdb.DuckDBPyConnection) -> list[SourceReconciliation]:
    out = []
    for source, (tenant_rel, shared_rel, key) in TRACKED.items():
        read, loaded, quarantined = con.execute(
            f"""select
                (select coalesce(sum(rows_read), 0) from raw.file_ledger where source = $s),
                (select count(*) from raw.{source}),
                (select count(*) from raw.quarantine where source = $s)""",
            {"s": source},
        ).fetchone()
        tenant_rows = con.execute(f"select count(*) from {tenant_rel}").fetchone()[0]
        applied = excluded = 0
        if shared_rel is not None:
            applied = con.execute(f"select count(distinct {key}) from {shared_rel}").fetchone()[0]
            excluded = con.execute(
                "select count(*) from marts.fct_global_exclusions where source = ?", [source]
            ).fetchone()[0]
        out.append(
            SourceReconciliation(
                source, int(read), int(loaded), int(quarantined), tenant_rows, applied, excluded
            )
        )
    return out
