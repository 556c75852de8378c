"""The file ledger (``raw.file_ledger``): per landing file, by sha256, the rows read, loaded and
quarantined, so a re-delivered file loads nothing twice and read = loaded + quarantined holds.

Ingest adds a file's row; a tenant deletion and a retention purge, which remove rows after the
fact, take them out of the counts here, the one place that does that arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import duckdb

from tenantproof.core.warehouse import sql_literal

LEDGER = "raw.file_ledger"


def unledger_rows(
    con: duckdb.DuckDBPyConnection,
    source: str,
    counts_sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
) -> None:
    """Rows removed from an entity's raw table leave their file's read and loaded counts (the
    ledger row of whichever source mapping loaded the file into it). ``counts_sql`` selects
    ``(_sha256, n)``: the removed rows per file."""
    con.execute(
        f"""update {LEDGER} l set rows_read = l.rows_read - d.n,
                rows_loaded = l.rows_loaded - d.n
            from ({counts_sql}) d
            where coalesce(l.entity, l.source) = {sql_literal(source)}
              and l.sha256 = d._sha256""",
        params,
    )


def unledger_quarantined(
    con: duckdb.DuckDBPyConnection, lines: Iterable[tuple[str, str, datetime, int]]
) -> None:
    """Quarantined lines removed, as (source, file, quarantined_at, count), leave the read and
    quarantined counts of the ledger row that loaded them: the one of the same file and load
    (same transaction time), else the file's latest load."""
    for source, file, at, n in lines:
        row = con.execute(
            f"select sha256 from {LEDGER} where source = ? and path = ? "
            "order by (loaded_at = ?) desc, loaded_at desc limit 1",
            [source, file, at],
        ).fetchone()
        if row:
            con.execute(
                f"update {LEDGER} set rows_read = rows_read - ?, "
                "rows_quarantined = rows_quarantined - ? where source = ? and sha256 = ?",
                [n, n, source, row[0]],
            )
