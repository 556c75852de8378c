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
    """Beyond the memory limit DuckDB spills to `<file>.tmp` beside the database, in the home."""
    """Open the warehouse (or ``:memory:``) with the session settings every caller relies on."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    if memory_limit:
        con.execute(f"set memory_limit = '{memory_limit}'")
    return con
