"""The warehouse rewritten into a fresh file, so that no freed block keeps a deleted row.

DuckDB reuses the blocks of deleted rows but does not clear them: after a deletion the file
still holds the old bytes (the tenant's e-mails and name, found by ``grep -a``) although no query
returns them. ``COPY FROM DATABASE`` into a new file writes only the live rows; the new file then
replaces the old one by rename.

Safe if killed at any point: the old file is untouched until the rename, which is atomic; the
copy is made in a private folder beside it (removed and made again by a rerun). While it is
made, the deletion's writer connection holds the old file's lock, so nothing writes to it; the
new file is opened (read-only, which also takes its lock against writers) before the rename, so
no other writer can open it either until the deletion has verified it.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import duckdb

from tenantproof.core.warehouse import connect, sql_literal

COMPACTING_DIR = ".compacting"  # beside the warehouse file: the copy keeps its file name


class CompactionError(RuntimeError):
    """The copy differs from the warehouse: the warehouse was left as it was."""


def _catalog(con: duckdb.DuckDBPyConnection, database: str) -> list[tuple]:
    """Every object a database holds, as text, without the database's own name."""
    sql = """
        select 'table', schema_name, table_name, sql from duckdb_tables()
         where database_name = $db
        union all select 'view', schema_name, view_name, sql from duckdb_views()
         where database_name = $db and not internal
        union all select 'macro', schema_name, function_name, coalesce(macro_definition, '')
          from duckdb_functions() where database_name = $db and not internal
        union all select 'sequence', schema_name, sequence_name, sql from duckdb_sequences()
         where database_name = $db
        union all select 'index', schema_name, index_name, sql from duckdb_indexes()
         where database_name = $db
        union all select 'type', schema_name, type_name, logical_type from duckdb_types()
         where database_name = $db and not internal
        union all select 'constraint', schema_name, table_name,
               constraint_type || ' ' || coalesce(constraint_text, '')
          from duckdb_constraints() where database_name = $db
        order by all"""
    return con.execute(sql, {"db": database}).fetchall()


def _row_counts(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, int]:
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ?", [database]
    ).fetchall()
    return {
        f"{s}.{t}": con.execute(f'select count(*) from "{database}"."{s}"."{t}"').fetchone()[0]
        for s, t in tables
    }


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_in(new: Path, target: Path) -> None:
    """The rename that replaces the warehouse (its own function: tests kill around it)."""
    os.replace(new, target)
    _fsync(target.parent)


def compact(
    con: duckdb.DuckDBPyConnection, path: Path
) -> tuple[duckdb.DuckDBPyConnection, dict[str, Any]]:
    """Rewrite the warehouse at ``path`` (open on ``con``, the writer) into a fresh file and
    rename it over ``path``. Returns a read-only connection to the new file (the caller closes
    ``con`` and then this one) and the record of the rewrite."""
    folder = path.parent / COMPACTING_DIR
    shutil.rmtree(folder, ignore_errors=True)  # a killed attempt's copy
    folder.mkdir(mode=0o700)
    fresh = folder / path.name  # same file name: the same catalog name when opened
    database = con.execute("select current_database()").fetchone()[0]
    alias = f"{database}__compacted"
    mode = stat.S_IMODE(path.stat().st_mode)
    bytes_before = path.stat().st_size
    # Everything committed is in the file and the write-ahead log is empty: once the new file
    # is in place, no log of the old one can be replayed onto it.
    con.execute("force checkpoint")
    wal = path.with_name(path.name + ".wal")
    con.execute(f"attach {sql_literal(fresh)} as {alias}")
    try:
        con.execute(f'copy from database "{database}" to "{alias}"')
        before, after = _catalog(con, database), _catalog(con, alias)
        if before != after:
            missing = sorted(set(before) - set(after))[:3]
            raise CompactionError(f"the copy of the warehouse lacks {missing}")
        rows, copied = _row_counts(con, database), _row_counts(con, alias)
        if rows != copied:
            differ = sorted(t for t in rows if rows[t] != copied.get(t))[:3]
            raise CompactionError(f"the copy of the warehouse differs in {differ}")
    finally:
        con.execute(f"detach {alias}")
    for log in (wal, fresh.with_name(fresh.name + ".wal")):
        if log.exists() and log.stat().st_size:
            raise CompactionError(f"{log.name} is not empty after a checkpoint: not replaced")
    os.chmod(fresh, mode)
    _fsync(fresh)
    reader = connect(fresh, read_only=True)
    try:
        # relative file paths in views resolve against the warehouse's folder, as they will
        reader.execute(f"set file_search_path = {sql_literal(path.parent.absolute())}")
        swap_in(fresh, path)
    except BaseException:
        reader.close()
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return reader, {
        "method": "COPY FROM DATABASE into a fresh file, renamed over the old one",
        "bytes_before": bytes_before,
        "bytes_after": path.stat().st_size,
        "tables": len(rows),
        "rows": sum(rows.values()),
        "mode": oct(mode),
    }
