"""The tenant-scoped read layer: DuckDB's equivalent of row-level security (DESIGN principle 3).

Export code reads tenant data only through table macros in the ``tenant_scope`` schema. Each
takes the tenants (or tenant|period keys) it may see and cannot be called without them: an empty
or null scope raises inside DuckDB itself, and the Python side refuses any read outside the
scope it was opened with and re-checks every row it gets back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

SCOPE_SCHEMA = "tenant_scope"


@dataclass(frozen=True)
class ScopedRelation:
    """A bundle file kind and the export-shaped model behind it."""

    name: str
    model: str
    periodic: bool = True  # rows carry a period; if not, they go into every period's bundle


BUNDLE_RELATIONS: tuple[ScopedRelation, ...] = (
    ScopedRelation("audit_events", "export.rpt_tenant_audit_events"),
    ScopedRelation("access_history", "export.rpt_tenant_access_history"),
    ScopedRelation("evidence", "export.rpt_tenant_evidence"),
    ScopedRelation("controls", "export.rpt_tenant_controls", periodic=False),
    ScopedRelation("shared_service_evidence", "export.rpt_tenant_shared_service_evidence"),
)
REGISTRY = ScopedRelation("registry", "export.rpt_tenant_registry", periodic=False)
# Read through the scope for each bundle's freshness_report.html, not written as data files.
REPORT_RELATIONS: tuple[ScopedRelation, ...] = (
    ScopedRelation("freshness", "export.rpt_tenant_freshness", periodic=False),
    ScopedRelation("drift_flags", "export.rpt_tenant_drift_flags", periodic=False),
)
RELATIONS = {r.name: r for r in (*BUNDLE_RELATIONS, REGISTRY, *REPORT_RELATIONS)}


class CrossTenantAccess(PermissionError):
    """A read or write reached, or would reach, a tenant outside the caller's scope.

    ``tenants``: the tenants the refusal involves, when the refusing check knows them (the
    bundle's owner, the foreign tenant found); the isolation incident log names them instead of
    every tenant of the run. Ids only, never in the message."""

    def __init__(self, message: str, tenants: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.tenants = sorted(set(tenants))


def _guard(arg: str) -> str:
    return (
        f"(select case when {arg} is null or len({arg}) = 0 then "
        f"error('tenant scope required: {SCOPE_SCHEMA} relations need at least one tenant') "
        "else true end)"
    )


def install(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the scoped macros over the export-shaped models."""
    con.execute(f"create schema if not exists {SCOPE_SCHEMA}")
    con.execute(
        f"create or replace macro {SCOPE_SCHEMA}.identifiers() as table "
        f"select tenant_id, tenant_name from {REGISTRY.model}"
    )
    for rel in RELATIONS.values():
        if rel.periodic:
            # Plain column filters, so DuckDB can push the tenants' range down to the scan and
            # skip row groups of other tenants (the marts are clustered by tenant and period).
            body = (
                f"select * from {rel.model} where {_guard('tenants')} and {_guard('periods')} "
                "and tenant_id in (select unnest(tenants)) "
                "and period in (select unnest(periods))"
            )
            con.execute(
                f"create or replace macro {SCOPE_SCHEMA}.{rel.name}(tenants, periods) as table "
                f"{body}"
            )
        else:
            body = (
                f"select * from {rel.model} where {_guard('tenants')} and "
                "tenant_id in (select unnest(tenants))"
            )
            con.execute(
                f"create or replace macro {SCOPE_SCHEMA}.{rel.name}(tenants) as table {body}"
            )


def tenant_identifiers(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Every tenant's id and name, and nothing else: the one unscoped read, which leak detection
    needs in order to recognise another tenant's identifier in a bundle."""
    return con.execute(
        f"select tenant_id, tenant_name from {SCOPE_SCHEMA}.identifiers() order by tenant_id"
    ).fetchall()


class TenantScope:
    """Reads through the scoped macros for a fixed set of tenants and periods."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, tenants: Iterable[str], periods: Sequence[str] = ()
    ) -> None:
        self.tenants = sorted(set(tenants))
        if not self.tenants:
            raise CrossTenantAccess("a tenant scope needs at least one tenant")
        self.periods = sorted(set(periods))
        self.con = con

    def _check(self, tenants: Iterable[str] | None) -> list[str]:
        wanted = self.tenants if tenants is None else sorted(set(tenants))
        outside = [t for t in wanted if t not in self.tenants]
        if outside:
            raise CrossTenantAccess(
                f"cross-tenant read refused: scope holds {len(self.tenants)} tenant(s), "
                f"request names {len(outside)} outside it"
            )
        return wanted

    def sql(self, relation: str, tenants: Iterable[str] | None = None) -> tuple[str, list]:
        """The scoped SELECT and its parameters, for callers that stream it (COPY)."""
        rel = RELATIONS[relation]
        wanted = self._check(tenants)
        if rel.periodic:
            if not self.periods:
                raise CrossTenantAccess("a periodic read needs at least one period")
            return f"select * from {SCOPE_SCHEMA}.{rel.name}(?, ?)", [wanted, self.periods]
        return f"select * from {SCOPE_SCHEMA}.{rel.name}(?)", [wanted]

    def read(self, relation: str, tenants: Iterable[str] | None = None) -> pa.Table:
        """Rows of the relation for the scope's tenants; every row is checked on the way out."""
        query, params = self.sql(relation, tenants)
        table = self.con.sql(query, params=params).to_arrow_table()
        self.assert_in_scope(table)
        return table

    def assert_in_scope(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        found = set(pc.unique(table.column("tenant_id")).to_pylist())
        foreign = found - set(self.tenants)
        if foreign:
            raise CrossTenantAccess(
                f"cross-tenant read: {len(foreign)} tenant(s) outside the scope in the result",
                tenants=foreign,
            )
