"""The mapping author's loop: one file read through a mapping and checked as ingest would,
in memory, loading nothing (``tenantproof sources check``).

The checks that need the warehouse (registered tenants, the lookup of source accounts, deleted
tenants, keys already loaded) read a read-only copy of what they need from it when it exists;
without it every tenant is unknown, which the result says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from exports.contract import sha256_file
from tenantproof.core.policy import Policy
from tenantproof.core.warehouse import connect
from tenantproof.core.warehouse import sql_literal as _q
from tenantproof.ingest.landing import gzip_broken, not_text, unreadable
from tenantproof.ingest.load import TEXT_FORMATS, declared_tenant, ensure_schema
from tenantproof.ingest.mapping import Mapping, Read
from tenantproof.ingest.parse import NOT_THE_FILE, PARSERS, READER_FAILURES, parsed_columns
from tenantproof.ingest.route import UNKNOWN_SOURCE_ACCOUNT, check

# Small tables copied whole from the warehouse for the checks.
COPIED = ("tenants", "tenant_source_accounts", "tenant_tombstones")


@dataclass
class CheckResult:
    source: str
    version: int
    entity: str
    file: str
    format: str
    read: int = 0
    loaded: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)  # reason code -> rows
    refused: str | None = None  # why the whole file is refused
    rows: list[dict[str, Any]] = field(default_factory=list)  # the first rows that would load
    problems: list[dict[str, Any]] = field(default_factory=list)  # the first rows that would not
    unmapped_fields: list[str] = field(default_factory=list)
    missing_keys: dict[str, int] = field(default_factory=dict)  # lookup key -> rows
    warehouse: str | None = None  # the warehouse the checks read, when there was one

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "version": self.version,
            "entity": self.entity,
            "file": self.file,
            "format": self.format,
            "read": self.read,
            "loaded": self.loaded,
            "quarantined": self.quarantined,
            "refused": self.refused,
            "unmapped_fields": self.unmapped_fields,
            "missing_keys": self.missing_keys,
            "rows": self.rows,
            "problems": self.problems,
            "warehouse": self.warehouse,
        }


def tails(path: Path) -> list[str]:
    """The path's endings, longest first: how a file outside landing is matched, as if its last
    folders were under landing (``../samples/okta/x.jsonl`` as ``okta/x.jsonl``)."""
    parts = path.parts
    return ["/".join(parts[i:]) for i in range(1, len(parts))] + [path.name]


def matching(mappings: Sequence[Mapping], path: Path, landing: Path) -> list[Mapping]:
    """The mappings that read the file: by its path under landing, else by its endings."""
    resolved = path.resolve()
    if resolved.is_relative_to(landing.resolve()):
        rel = resolved.relative_to(landing.resolve()).as_posix()
        return [m for m in mappings if m.read_for(rel)]
    for tail in tails(resolved):
        found = [m for m in mappings if m.read_for(tail)]
        if found:
            return found
    return []


def read_of(mapping: Mapping, path: Path, landing: Path) -> Read:
    resolved = path.resolve()
    candidates = (
        [resolved.relative_to(landing.resolve()).as_posix()]
        if resolved.is_relative_to(landing.resolve())
        else tails(resolved)
    )
    for rel in candidates:
        read = mapping.read_for(rel)
        if read is not None:
            return read
    # a file named like no read of the mapping: read by its suffix
    for read in mapping.reads:
        if path.name.removesuffix(".gz").endswith("." + read.format):
            return read
    return mapping.reads[0]


def _prepare(con: duckdb.DuckDBPyConnection, warehouse: Path | None) -> bool:
    ensure_schema(con)
    if warehouse is None or not warehouse.is_file():
        return False
    con.execute(f"attach {_q(str(warehouse))} as wh (read_only)")
    present = {
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where database_name = 'wh' "
            "and schema_name = 'raw'"
        ).fetchall()
    }
    for table in COPIED:
        if table in present:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from duckdb_columns() where database_name = 'wh' "
                    "and schema_name = 'raw' and table_name = ?",
                    [table],
                ).fetchall()
            ]
            mine = {
                r[0]
                for r in con.execute(
                    "select column_name from duckdb_columns() where database_name = 'memory' "
                    "and schema_name = 'raw' and table_name = ?",
                    [table],
                ).fetchall()
            }
            shared = ", ".join(c for c in cols if c in mine)
            con.execute(f"insert into raw.{table} ({shared}) select {shared} from wh.raw.{table}")
    if "quarantine" in present:
        con.execute(
            "insert into raw.quarantine (source, file, line, reason_code, tenant_hint) "
            "select source, file, line, reason_code, tenant_hint from wh.raw.quarantine "
            "where source = 'tenants' and reason_code = 'invalid_tenant_id'"
        )
    return True


def check_file(
    path: Path,
    mapping: Mapping,
    landing: Path,
    policy: Policy,
    warehouse: Path | None = None,
    tenant: str | None = None,
    limit: int = 5,
) -> CheckResult:
    """Read ``path`` with ``mapping`` and check every row as ingest would; nothing is loaded.
    ``tenant``: the delivery folder the file would be in (for ``tenant: delivery_folder``)."""
    read = read_of(mapping, path, landing)
    result = CheckResult(mapping.name, mapping.version, mapping.entity.name, str(path), read.format)
    con = connect(Path(":memory:"))
    try:
        if _prepare(con, warehouse):
            result.warehouse = str(warehouse)
        resolved = path.resolve()
        declared = tenant
        if declared is None and resolved.is_relative_to(landing.resolve()):
            declared = declared_tenant(landing.resolve(), resolved)
        con.execute(f"create temp table _parsed ({parsed_columns(mapping)})")
        con.execute(
            "create temp table _files (seq integer, file varchar, sha256 varchar, declared varchar)"
        )
        con.execute(
            "insert into _files values (0, ?, ?, ?)", [str(path), sha256_file(path), declared]
        )
        refusal = not_text(path, read.format) if read.format in TEXT_FORMATS else None
        if refusal is None:
            try:
                parsed = PARSERS[read.format](con, mapping, read, path, 0, declared)
            except READER_FAILURES as exc:
                if isinstance(exc, NOT_THE_FILE) and not gzip_broken(path):
                    raise
                refusal = unreadable(path.parent, path, read.format, exc)
        if refusal is not None:
            result.read, result.refused = 1, refusal.reason
            result.quarantined = {refusal.code: 1}
            return result
        _known_keys(con, mapping)
        check(con, mapping, policy)
        result.read = parsed.read
        result.unmapped_fields = list(parsed.unexpected)
        result.loaded = con.execute(
            "select count(*) from _checked where _reason is null"
        ).fetchone()[0]
        result.quarantined = dict(
            con.execute(
                "select _code, count(*) from _checked where _reason is not null "
                "group by 1 order by 2 desc, 1"
            ).fetchall()
        )
        result.missing_keys = dict(
            con.execute(
                f"select _tenant_key, count(*) from _checked where _code = "
                f"{_q(UNKNOWN_SOURCE_ACCOUNT)} group by 1 order by 2 desc, 1"
            ).fetchall()
        )
        cols = ", ".join(["_line", *mapping.entity.columns])
        rel = con.execute(
            f"select {cols} from _checked where _reason is null order by _line limit {limit}"
        )
        names = [d[0] for d in rel.description]
        result.rows = [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
        rel = con.execute(
            "select _line as line, _code as reason_code, _field as field, _reason as reason "
            f"from _checked where _reason is not null order by _line limit {limit}"
        )
        names = [d[0] for d in rel.description]
        result.problems = [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()
    return result


def _known_keys(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    """The keys of this file already in the warehouse (for duplicate_already_loaded)."""
    entity = mapping.entity
    if entity.replaces:
        return
    attached = con.execute(
        "select count(*) from duckdb_tables() where database_name = 'wh' and schema_name = 'raw' "
        "and table_name = ?",
        [entity.name],
    ).fetchone()[0]
    if attached:
        con.execute(
            f"insert into {entity.raw_table} ({entity.key}, _file) select {entity.key}, _file "
            f"from wh.{entity.raw_table} where {entity.key} in (select {entity.key} from _parsed)"
        )
