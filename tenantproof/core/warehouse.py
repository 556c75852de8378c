"""Connections to the warehouse file: one way to connect, UTC everywhere (PITFALLS: DuckDB 2.0).

The warehouse holds every tenant's rows: the file, its WAL and DuckDB's spill files are the
owner's alone (``private_folder``). Relative file paths in its views (the hashing keys' store,
models/staging/_raw__sources.yml) are relative to the warehouse's folder, the connection's
``file_search_path``, so a copied or moved home reads its own files.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

import duckdb

# A default POSIX ACL that grants the owner alone (Linux's xattr layout: version 2, then a
# (tag, permissions, id) entry each for the owning user, the owning group and others).
_OWNER_ONLY_DEFAULT_ACL = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", tag, perms, 0xFFFFFFFF) for tag, perms in ((0x01, 7), (0x04, 0), (0x20, 0))
)


def connect(
    path: Path,
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (or ``:memory:``) with the session settings every caller relies on;
    beyond the memory limit DuckDB spills to ``<file>.tmp`` beside the database, in the home."""
    on_disk = str(path) != ":memory:"
    if on_disk:
        if read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        else:
            private_folder(Path(path).parent)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    if on_disk:
        con.execute(f"set file_search_path = {sql_literal(Path(path).parent.absolute())}")
        if not read_only:  # a file an earlier version created with the umask's mode
            for file in (Path(path), Path(f"{path}.wal")):
                with contextlib.suppress(FileNotFoundError):
                    if file.stat().st_mode & 0o077:
                        file.chmod(0o600)
    if memory_limit:
        con.execute(f"set memory_limit = {sql_literal(memory_limit)}")
    return con


def private_folder(folder: Path) -> None:
    """Make ``folder`` (the warehouse's own) the owner's alone, and every file later created in
    it: 0700, and a default ACL that the kernel applies to each new file whatever the umask of
    the process creating it (DuckDB creates the database, its WAL at each write after a
    checkpoint and its spill files 0644 under the usual umask 022, in this process and in dbt's).
    Where the file system has no ACLs the 0700 folder still keeps other users out."""
    folder.mkdir(parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077:
        folder.chmod(0o700)
    with contextlib.suppress(OSError, AttributeError):  # no ACLs here, or not Linux
        os.setxattr(folder, "system.posix_acl_default", _OWNER_ONLY_DEFAULT_ACL)


def sql_literal(value: str | Path) -> str:
    """A SQL string literal (a path, a name, a message), its quotes doubled: the one way this
    project writes a value into SQL text where a parameter cannot go (COPY targets, table
    function arguments, generated CASE branches)."""
    text = value.as_posix() if isinstance(value, Path) else value
    return "'" + text.replace("'", "''") + "'"
