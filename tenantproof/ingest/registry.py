"""What a load of the tenant registry changes beside the warehouse: the per-tenant hashing keys
and the registry's Parquet copy for readers that must not open the warehouse file."""

from __future__ import annotations

from pathlib import Path

import duckdb

from exports.contract import Recogniser, escape_literal
from tenantproof.core.files import replacing
from tenantproof.core.keys import LocalKeyStore
from tenantproof.core.sources import TENANTS
from tenantproof.core.warehouse import sql_literal as _q


def sync_hash_keys(con: duckdb.DuckDBPyConnection, store: LocalKeyStore) -> int:
    """Give every registered tenant a hashing key in the key store (0600); return how many.

    The keys stay there: dbt reads the store in place (the source raw.tenant_hash_keys), so the
    warehouse file, which more processes open and which keeps deleted rows in its free blocks,
    never holds one, and a tenant's deletion from the store is its crypto-shredding."""
    tenant_ids = [r[0] for r in con.execute("select tenant_id from raw.tenants").fetchall()]
    store.ensure(tenant_ids)
    # Homes built before this held a copy of the keys in this table.
    con.execute("drop table if exists raw.tenant_hash_keys")
    return len(tenant_ids)


def sync_identifiers(con: duckdb.DuckDBPyConnection) -> int:
    """Mirror every registered tenant's recognisable identifiers, as patterns, into
    raw.tenant_identifiers: what the dbt scrub of other tenants' mentions reads (the rule is
    exports.contract's, computed once here rather than again in SQL)."""
    recogniser = Recogniser(
        con.execute("select tenant_id, tenant_name from raw.tenants order by tenant_id").fetchall()
    )
    rows = [
        (
            i.tenant_id,
            i.text,
            i.pattern,
            escape_literal(i.first_word),
            recogniser.own_marked(i.tenant_id),
        )
        for i in recogniser.identifiers
    ]
    con.execute("delete from raw.tenant_identifiers")
    if rows:
        con.executemany("insert into raw.tenant_identifiers values (?, ?, ?, ?, ?)", rows)
    return len(rows)


def publish_registry(con: duckdb.DuckDBPyConnection, target: Path) -> None:
    """Write the registry as Parquet for readers (sensors, dashboards) that must not lock the
    warehouse file (DESIGN principle 7)."""
    cols = ", ".join(TENANTS.columns)
    with replacing(target) as tmp:
        con.execute(
            f"copy (select {cols} from raw.tenants order by tenant_id) to {_q(str(tmp))} "
            "(format parquet)"
        )
