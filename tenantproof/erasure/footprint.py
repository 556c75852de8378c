"""Where a tenant's data is: its rows in every warehouse table (and the rows that name it), and
its files in the home (its own landing deliveries, the other landing files, the derived copies
and their hive partition folders)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from exports.contract import escape_literal
from tenantproof.core.home import Home
from tenantproof.core.sources import FORMAT_SUFFIXES, SOURCES, Source
from tenantproof.erasure.redaction import (
    Identifiers,
    count_rows,
    names_tenant_sql,
    redacted_sql,
    sql_params,
)
from tenantproof.ingest.ledger import LEDGER
from tenantproof.ingest.load import DECLARED_DIR, landing_files

TOMBSTONES = "raw.tenant_tombstones"
QUARANTINE = "raw.quarantine"
# Seeds, reloaded from the repository by every dbt build: policy, not tenant rows.
SKIPPED_SCHEMAS = ("policy", "information_schema", "pg_catalog")
TEXT_TYPES = ("VARCHAR", "JSON")


def declared_sql(column: str) -> str:
    """A landing path under ``<source>/tenants/<tenant_id>/``: delivered by the tenant itself."""
    return (
        f"(len(string_split({column}, '/')) >= 4 and string_split({column}, '/')[2] = "
        f"'{DECLARED_DIR}' and string_split({column}, '/')[3] = $tenant_id)"
    )


def quarantine_owned_sql() -> str:
    """The tenant's quarantined lines: its tenant_id, its own deliveries, or a malformed line
    that names it as tenant_id (JSON) or holds it as a cell (CSV)."""
    jsonl = ", ".join(f"'{s.name}'" for s in SOURCES.values() if s.format == "jsonl")
    csv_ = ", ".join(f"'{s.name}'" for s in SOURCES.values() if s.format == "csv")
    return (
        f"(tenant_hint = $tenant_id or {declared_sql('file')} or (tenant_hint is null and "
        f"reason_code = 'malformed' and ((source in ({jsonl}) and regexp_matches(record, "
        f"'\"tenant_id\"\\s*:\\s*\"' || $tenant_id_re || '\"')) or (source in ({csv_}) and "
        "coalesce(try(list_contains(from_json(record, '[\"VARCHAR\"]'), $tenant_id)), false)))))"
    )


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]
    view: bool = False

    @property
    def text_columns(self) -> list[str]:
        return [c for c, t in self.columns.items() if t in TEXT_TYPES]

    def owned(self) -> str | None:
        """The predicate for the tenant's own rows, or None when the table holds none."""
        if self.name == QUARANTINE:
            return quarantine_owned_sql()
        if self.name == LEDGER:
            return declared_sql("path")
        if "tenant_id" in self.columns:
            return "tenant_id = $tenant_id"
        return None

    def mentions(self) -> str | None:
        """The predicate for rows (not the tenant's own) that name the tenant in any text."""
        if not self.text_columns:
            return None
        return "(" + " or ".join(names_tenant_sql(f'"{c}"') for c in self.text_columns) + ")"


def warehouse_tables(con: duckdb.DuckDBPyConnection) -> list[Table]:
    """Every table that can hold rows (views hold nothing themselves, listed for the checks)."""
    cols = con.execute(
        """select c.table_schema, c.table_name, t.table_type, c.column_name, c.data_type
        from information_schema.columns c join information_schema.tables t
          on t.table_catalog = c.table_catalog and t.table_schema = c.table_schema
         and t.table_name = c.table_name
        where c.table_catalog = current_database()
        order by c.table_schema, c.table_name, c.ordinal_position"""
    ).fetchall()
    tables: dict[str, Table] = {}
    for schema, name, kind, column, typ in cols:
        full = f"{schema}.{name}"
        if schema in SKIPPED_SCHEMAS or full == TOMBSTONES:
            continue
        table = tables.setdefault(full, Table(full, {}, view=kind == "VIEW"))
        table.columns[column] = typ
    return [tables[k] for k in sorted(tables)]


def count_sql(table: Table, predicate: str, exclude_owned: bool = False) -> str:
    where = predicate
    owned = table.owned()
    if exclude_owned and owned:
        where = f"not coalesce({owned}, false) and {predicate}"
    return f"select count(*) from {table.name} where {where}"


def table_counts(con: duckdb.DuckDBPyConnection, ids: Identifiers) -> dict[str, dict[str, int]]:
    """Per table: the tenant's rows, and other rows that name it."""
    out = {}
    for table in warehouse_tables(con):
        if table.view:
            continue
        owned, mentions = table.owned(), table.mentions()
        out[table.name] = {
            "rows": count_rows(con, count_sql(table, owned), ids) if owned else 0,
            "mentions": count_rows(con, count_sql(table, mentions, True), ids) if mentions else 0,
        }
    return out


def redact_table(con: duckdb.DuckDBPyConnection, table: Table, ids: Identifiers) -> int:
    """Replace the tenant's id and name by REDACTED in every text cell of every row left."""
    mentions = table.mentions()
    if mentions is None:
        return 0
    quoted = [f'"{c}"' for c in table.text_columns]
    sets = ", ".join(
        f"{c} = case when {names_tenant_sql(c)} then {redacted_sql(c)} else {c} end" for c in quoted
    )
    sql = f"update {table.name} set {sets} where {mentions}"
    return con.execute(sql, sql_params(ids, sql)).fetchone()[0]


def declared_folders(home: Home, tenant_id: str) -> list[tuple[str, Path]]:
    """The tenant's own delivery folders, ``landing/<folder>/tenants/<tenant_id>/``, of any
    source (a vendor's, such as okta/, as well as the entities' own)."""
    if not home.landing.is_dir():
        return []
    return [
        (top.name, top / DECLARED_DIR / tenant_id)
        for top in sorted(home.landing.iterdir())
        if not top.is_symlink() and (top / DECLARED_DIR / tenant_id).is_dir()
    ]


def landing_candidates(home: Home, tenant_id: str) -> Iterator[tuple[Source, Path]]:
    for source in SOURCES.values():
        own = home.landing / source.name / DECLARED_DIR / tenant_id
        files, _ = landing_files(home.landing, source)
        for path in files:
            if own not in path.parents:
                yield source, path


def derived_areas(home: Home) -> list[Path]:
    """Top folders of the home that are not one of its stores (``Home.stores``, each removed
    from by its own step): derived copies (an analytics snapshot, logs, Spark's hand-off) whose
    JSONL, CSV and Parquet files are swept like landing files."""
    stores = set(home.stores())
    return sorted(p for p in home.root.iterdir() if p.is_dir() and p not in stores)


def derived_files(home: Home) -> Iterator[tuple[str, Path]]:
    by_suffix = {suffix: fmt for fmt, suffixes in FORMAT_SUFFIXES.items() for suffix in suffixes}
    for area in derived_areas(home):
        for path in sorted(area.rglob("*")):
            fmt = by_suffix.get(path.suffix)
            if fmt and path.is_file() and not path.name.startswith("."):
                yield fmt, path


def partition_folders(home: Home, tenant_id: str) -> list[Path]:
    """Hive partition folders of the tenant in the derived areas (their files carry no
    tenant_id column: the folder name is the tenant)."""
    return sorted(p for area in derived_areas(home) for p in area.rglob(f"tenant_id={tenant_id}"))


def delivered_folders(home: Home, tenant_id: str) -> list[Path]:
    """The tenant's bundles delivered to recipients (``<outbox>/<recipient>/<region>/<tenant>``,
    exports.delivery): removed with its published bundles."""
    return sorted(p for p in home.outbox.glob(f"*/*/{tenant_id}") if p.is_dir())


# An e-mail address as the byte scan looks for it (lowercase; RE2 and Python alike).
EMAIL_RE = r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+"


def _addresses(
    con: duckdb.DuckDBPyConnection, table: Table, where: str, ids: Identifiers
) -> set[str]:
    found: set[str] = set()
    for column in table.text_columns:
        sql = (
            f"select distinct unnest(regexp_extract_all(lower(\"{column}\"), '{EMAIL_RE}')) "
            f"from {table.name} where contains(\"{column}\", '@') and ({where})"
        )
        found |= {r[0] for r in con.execute(sql, sql_params(ids, sql)).fetchall() if r[0]}
    return found


def tenant_contacts(
    con: duckdb.DuckDBPyConnection, ids: Identifiers
) -> tuple[list[str], list[str]]:
    """The tenant's e-mail addresses and domains, for the byte scan: the addresses in its own
    rows that no other row holds (not the platform's staff, who act for every tenant), and
    their domains that no other row's address has."""
    own: set[str] = set()
    other: set[str] = set()
    for table in warehouse_tables(con):
        if table.view or not table.text_columns:
            continue
        owned = table.owned()
        if owned:
            own |= _addresses(con, table, f"coalesce({owned}, false)", ids)
            other |= _addresses(con, table, f"not coalesce({owned}, false)", ids)
        else:
            other |= _addresses(con, table, "true", ids)
    addresses = sorted(own - other)
    others_domains = {a.split("@", 1)[1] for a in other}
    domains = sorted({a.split("@", 1)[1] for a in addresses} - others_domains)
    return addresses, domains


def contact_cells(
    con: duckdb.DuckDBPyConnection, addresses: list[str], domains: list[str]
) -> dict[str, int]:
    """Per table, the rows left with a text cell holding one of the tenant's addresses or
    domains (SQL sees what compressed storage hides from a byte scan)."""
    needles = sorted({*addresses, *domains}, key=lambda n: (-len(n), n))
    if not needles:
        return {}
    pattern = "(" + "|".join(escape_literal(n) for n in needles) + ")"
    out = {}
    for table in warehouse_tables(con):
        if table.view or not table.text_columns:
            continue
        cells = " or ".join(
            f'coalesce(regexp_matches(lower("{c}"), $pattern), false)' for c in table.text_columns
        )
        n = con.execute(f"select count(*) from {table.name} where {cells}", {"pattern": pattern})
        found = n.fetchone()[0]
        if found:
            out[table.name] = int(found)
    return out
