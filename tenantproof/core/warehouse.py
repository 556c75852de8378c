"""Connections to the warehouse file: one way to connect, UTC everywhere (PITFALLS: DuckDB 2.0)."""

from __future__ import annotations

from pathlib import Path

import duckdb


def connect(
    path: Path,
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (or ``:memory:``) with the session settings every caller relies on;
    beyond the memory limit DuckDB spills to ``<file>.tmp`` beside the database, in the home."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    if memory_limit:
        con.execute(f"set memory_limit = {sql_literal(memory_limit)}")
    return con


def sql_literal(value: str | Path) -> str:
    """A SQL string literal (a path, a name, a message), its quotes doubled: the one way this
    project writes a value into SQL text where a parameter cannot go (COPY targets, table
    function arguments, generated CASE branches)."""
    text = value.as_posix() if isinstance(value, Path) else value
    return "'" + text.replace("'", "''") + "'"
