"""Dagster's SQLite stores (``<home>/dagster``) without a deleted tenant: its rows deleted, the
cells that name it redacted, every store vacuumed, and its compute logs redacted.

Dagster's API removes a tenant's dynamic partition and the runs that were the tenant's alone
(``orchestration.deletion``), but the SQLite event log cannot wipe single partitions: runs over
several tenants keep the tenant's materialisations, check evaluations and tags (partition keys
``<period>|<tenant>``), their metadata lists tenant ids, and rows Dagster deletes stay as bytes
in the files' free pages. Here, in every SQLite file under the Dagster home:

- event-log rows (events, check executions, dynamic partitions) whose ``partition`` is one of
  the tenant's partition keys (the tenant id as one ``|``-separated dimension) are deleted,
  with the tags of the events deleted;
- every other text cell (and zlib-compressed blob) that names the tenant has its id, name,
  e-mail domain and addresses replaced by ``[deleted tenant]``;
- the file is vacuumed and its write-ahead log truncated, so no free page keeps old rows.

The run executing the deletion is left as it is (its rows and its own event-log file): its
config names the tenant it deletes, as the certificate does.
"""

from __future__ import annotations

import contextlib
import sqlite3
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tenantproof.core.files import write_atomic
from tenantproof.erasure.bytescan import TENANT_ID, BytePatterns, Exemption
from tenantproof.erasure.redaction import REDACTED

SQLITE_MAGIC = b"SQLite format 3\x00"
PARTITION_COLUMN = "partition"
# Event-log tables whose rows are one partition's: deleted when it is the tenant's. Other tables
# (runs, with their tags and shards) are removed through Dagster's API or redacted.
PARTITION_TABLES = ("event_logs", "asset_check_executions", "dynamic_partitions")
CACHE_COLUMNS = ("cached_status_data",)  # recomputed by Dagster: cleared, not redacted
EVENT_TAGS = ("asset_event_tags", "event_id")  # rows that belong to an event_logs row
BUSY_TIMEOUT = 30.0


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def own_run_files(dagster_home: Path, run_id: str | None) -> list[Path]:
    """The files of one run, wherever the instance keeps them: its event-log shard (a file
    named ``<run_id>.db``, with its journals) and its compute logs (under a ``<run_id>``
    folder)."""
    if not run_id or not dagster_home.is_dir():
        return []
    return sorted(
        p
        for p in dagster_home.rglob("*")
        if p.is_file() and (p.name.split(".")[0] == run_id or run_id in p.parts)
    )


def own_run_exemptions(
    home_root: Path, dagster_home: Path, run_id: str | None, patterns: BytePatterns
) -> list[Exemption]:
    """The deletion run's own files, and the stores where its rows name the tenant: they name
    it by id (the run's config and logs), as the certificate does."""
    if not run_id:
        return []
    reason = (
        f"the Dagster run {run_id} executing this deletion: its config and logs name the "
        "tenant it deletes, by id"
    )
    prefixes = set()
    for path in own_run_files(dagster_home, run_id):
        rel = path.relative_to(home_root)
        if run_id in rel.parts[:-1]:
            prefixes.add("/".join(rel.parts[: rel.parts.index(run_id) + 1]) + "/")
        else:
            prefixes.add(rel.with_name(run_id).as_posix() + ".*")
    out = [Exemption(p, (TENANT_ID,), reason) for p in sorted(prefixes)]
    for store in _stores(dagster_home, run_id):
        if _run_names_tenant(store, run_id, patterns):
            out.append(
                Exemption(
                    store.relative_to(home_root).as_posix() + "*",
                    (TENANT_ID,),
                    f"holds the record of the Dagster run {run_id} executing this deletion "
                    "(its config names the tenant, by id); every other row is checked cell "
                    "by cell (check 'dagster: rows naming the tenant')",
                )
            )
    return out


def _run_names_tenant(path: Path, run_id: str, patterns: BytePatterns) -> bool:
    con = _connect(path, patterns)
    try:
        for table, columns in _tables(con).items():
            if "run_id" in columns:
                cells = " or ".join(f'tp_names("{c}")' for c in columns)
                sql = f'select 1 from "{table}" where run_id = ? and ({cells}) limit 1'
                if con.execute(sql, [run_id]).fetchone():
                    return True
        return False
    finally:
        con.close()


def _stores(dagster_home: Path, own_run: str | None) -> Iterator[Path]:
    own = set(own_run_files(dagster_home, own_run))
    for path in sorted(dagster_home.rglob("*")):
        if path.is_file() and not path.is_symlink() and path not in own and is_sqlite(path):
            yield path


def _connect(path: Path, patterns: BytePatterns) -> sqlite3.Connection:
    """A connection with the matching as SQL functions: ``tp_names(cell)``,
    ``tp_redacted(cell)`` and ``tp_owns_key(partition)``."""
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    # what this connection deletes or rewrites is zeroed in place, whatever the build's default
    con.execute("pragma secure_delete = on")
    tenant = patterns.tenant_id
    con.create_function("tp_names", 1, lambda v: int(_names(v, patterns)), deterministic=True)
    con.create_function("tp_redacted", 1, lambda v: _redacted(v, patterns), deterministic=True)
    con.create_function(
        "tp_owns_key",
        1,
        lambda v: int(isinstance(v, str) and tenant in v.split("|")),
        deterministic=True,
    )
    return con


def _decompressed(value: bytes) -> bytes | None:
    try:
        return zlib.decompress(value)
    except zlib.error:
        return None


def _names(value: Any, patterns: BytePatterns) -> bool:
    if isinstance(value, str):
        return patterns.names(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bytes):
        inner = _decompressed(value)
        if inner is not None:
            return patterns.names(inner)
        return patterns.names(value, text=False)
    return False


def _redacted(value: Any, patterns: BytePatterns) -> Any:
    by = REDACTED.encode()
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        return patterns.redact(data, by).decode("utf-8", "surrogatepass")
    if isinstance(value, bytes):
        inner = _decompressed(value)
        if inner is not None:
            return zlib.compress(patterns.redact(inner, by))
        return patterns.redact(value, by, text=False)
    return value


def _tables(con: sqlite3.Connection) -> dict[str, list[str]]:
    names = [
        r[0]
        for r in con.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
        )
    ]
    return {t: [r[1] for r in con.execute(f'pragma table_info("{t}")')] for t in names}


def _not_own(columns: list[str], own_run: str | None) -> tuple[str, list[str]]:
    if own_run and "run_id" in columns:
        return "(run_id is null or run_id <> ?)", [own_run]
    return "1", []


def scrub_sqlite(path: Path, patterns: BytePatterns, own_run: str | None) -> dict[str, int]:
    """One store: the tenant's partition rows deleted, other cells redacted, vacuumed."""
    size_before = path.stat().st_size
    deleted = redacted = 0
    con = _connect(path, patterns)
    try:
        tables = _tables(con)
        con.execute("begin immediate")
        try:
            gone: list[int] = []
            for table, columns in tables.items():
                if table not in PARTITION_TABLES or PARTITION_COLUMN not in columns:
                    continue
                keep, params = _not_own(columns, own_run)
                where = f'tp_owns_key("{PARTITION_COLUMN}") and {keep}'
                if table == "event_logs" and "id" in columns:
                    sql = f'select id from "{table}" where {where}'
                    gone += [r[0] for r in con.execute(sql, params)]
                deleted += con.execute(f'delete from "{table}" where {where}', params).rowcount
            tags, key = EVENT_TAGS
            if gone and tags in tables and key in tables[tags]:
                for i in range(0, len(gone), 500):
                    chunk = gone[i : i + 500]
                    sql = f'delete from "{tags}" where "{key}" in ({", ".join("?" * len(chunk))})'
                    deleted += con.execute(sql, chunk).rowcount
            for table, columns in tables.items():
                keep, params = _not_own(columns, own_run)
                for column in columns:
                    value = "null" if column in CACHE_COLUMNS else f'tp_redacted("{column}")'
                    sql = (
                        f'update "{table}" set "{column}" = {value} '
                        f'where tp_names("{column}") and {keep}'
                    )
                    redacted += con.execute(sql, params).rowcount
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        vacuum(con)
    finally:
        con.close()
    return {
        "rows_deleted": deleted,
        "cells_redacted": redacted,
        "bytes_before": size_before,
        "bytes_after": path.stat().st_size,
    }


def vacuum(con: sqlite3.Connection) -> None:
    """Rebuild the file without free pages; empty its write-ahead log (its own function:
    a test skips it to show the bytes it removes)."""
    con.execute("vacuum")
    with contextlib.suppress(sqlite3.OperationalError):
        con.execute("pragma wal_checkpoint(truncate)")


def sqlite_remnants(path: Path, patterns: BytePatterns, own_run: str | None) -> int:
    """Rows (not the deletion run's) that are the tenant's partitions or have a cell naming
    it, decoded: text as it is, zlib blobs decompressed. What the byte scan cannot judge of a
    short id in a binary store."""
    con = _connect(path, patterns)
    try:
        found = 0
        for table, columns in _tables(con).items():
            keep, params = _not_own(columns, own_run)
            owned = (
                f'tp_owns_key("{PARTITION_COLUMN}")'
                if table in PARTITION_TABLES and PARTITION_COLUMN in columns
                else "0"
            )
            cells = " or ".join(f'tp_names("{c}")' for c in columns) or "0"
            sql = f'select count(*) from "{table}" where ({owned} or {cells}) and {keep}'
            found += con.execute(sql, params).fetchone()[0]
        return found
    finally:
        con.close()


def scrub_dagster(
    home_root: Path, dagster_home: Path, patterns: BytePatterns, own_run: str | None
) -> dict[str, Any]:
    """Every SQLite store under the Dagster home scrubbed, and every other text file there
    (compute logs) that names the tenant rewritten redacted; the deletion run's own files are
    left as they are."""
    if not dagster_home.is_dir():
        return {"stores": {}, "logs_redacted": []}
    stores = {
        p.relative_to(home_root).as_posix(): scrub_sqlite(p, patterns, own_run)
        for p in _stores(dagster_home, own_run)
    }
    own = set(own_run_files(dagster_home, own_run))
    logs = []
    for path in sorted(dagster_home.rglob("*")):
        if not path.is_file() or path.is_symlink() or path in own or is_sqlite(path):
            continue
        if path.name.endswith(("-wal", "-shm", "-journal")):
            continue  # a store's journals: emptied by its checkpoint
        data = path.read_bytes()
        if b"\0" in data or not patterns.names(data):
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        write_atomic(path, patterns.redact(data, REDACTED.encode()), mode=mode)
        logs.append(path.relative_to(home_root).as_posix())
    return {"stores": stores, "logs_redacted": logs}


def dagster_remnants(
    home_root: Path, dagster_home: Path, patterns: BytePatterns, own_run: str | None
) -> dict[str, int]:
    """Per store (relative to the home), the rows that still name the tenant."""
    if not dagster_home.is_dir():
        return {}
    return {
        p.relative_to(home_root).as_posix(): sqlite_remnants(p, patterns, own_run)
        for p in _stores(dagster_home, own_run)
    }
