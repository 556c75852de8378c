"""The tenant-scoped read layer (the RLS equivalent): a cross-tenant read fails (spec §8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from exports import scope as scoped
from exports.scope import CrossTenantAccess, TenantScope
from tenantproof.core.warehouse import connect


@pytest.fixture
def con(built, tmp_path: Path):
    """A private copy of the built warehouse: these tests rewrite the scope's macros."""
    copy = tmp_path / "w.duckdb"
    shutil.copy(built.home.warehouse, copy)
    con = connect(copy)
    scoped.install(con)
    yield con
    con.close()


def test_a_scope_reads_only_its_tenant(con, built):
    table = TenantScope(con, ["t1"], built.periods).read("audit_events")
    assert table.num_rows > 0
    assert set(table.column("tenant_id").to_pylist()) == {"t1"}


def test_reading_another_tenant_through_a_scope_fails(con, built):
    scope = TenantScope(con, ["t1"], built.periods)
    with pytest.raises(CrossTenantAccess, match="cross-tenant read refused"):
        scope.read("audit_events", tenants=["t10"])
    with pytest.raises(CrossTenantAccess, match="cross-tenant read refused"):
        scope.read("controls", tenants=["t1", "t2"])


def test_the_scoped_relations_cannot_be_called_without_a_tenant(con):
    with pytest.raises(duckdb.Error, match="tenant scope required"):
        con.execute("select * from tenant_scope.audit_events([], ['2026-10'])").fetchall()
    with pytest.raises(duckdb.Error, match="tenant scope required"):
        con.execute("select * from tenant_scope.audit_events(['t1'], [])").fetchall()
    with pytest.raises(duckdb.Error, match="tenant scope required"):
        con.execute("select * from tenant_scope.controls(null::varchar[])").fetchall()
    with pytest.raises(duckdb.Error):
        con.execute("select * from tenant_scope.audit_events()").fetchall()
    with pytest.raises(CrossTenantAccess):
        TenantScope(con, [], ["2026-10"])


def test_a_misconfigured_scope_is_caught_on_the_way_out(con, built):
    scope = TenantScope(con, ["t1"], built.periods)
    scope.read("audit_events")  # passes while the scope filters
    # plant the leak: the scoped relation forgets its tenant filter
    con.execute(
        "create or replace macro tenant_scope.audit_events(tenants, periods) as table "
        "select * from export.rpt_tenant_audit_events"
    )
    with pytest.raises(CrossTenantAccess, match="outside the scope in the result"):
        scope.read("audit_events")
