"""The warehouse file holds no hashing key and is the owner's alone (issue 13, item 7: the file
was 0644 and held raw.tenant_hash_keys, the same keys the 0600 key file protects).

The keys stay in their store (<home>/keys/tenant_hash_keys.json), which dbt reads in place; the
warehouse holds only what is hashed with them, and the hashes are those of the key file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from tenantproof.core.home import Home
from tenantproof.core.keys import HASH_KEYS
from tenantproof.core.warehouse import connect
from tenantproof.transform.engine import hand_raw_to_spark, spark_raw_dir
from tests.conftest import BuiltHome


def hash_keys(home: Home) -> dict[str, str]:
    return json.loads((home.keys / HASH_KEYS).read_text(encoding="utf-8"))


def keys_in_bytes(path: Path, keys: dict[str, str]) -> list[str]:
    """The tenants whose key is in the file's bytes, as hex text (either case) or raw."""
    data = path.read_bytes()
    return sorted(
        t
        for t, k in keys.items()
        if any(form in data for form in (k.encode(), k.upper().encode(), bytes.fromhex(k)))
    )


def keys_in_tables(con: duckdb.DuckDBPyConnection, keys: dict[str, str]) -> list[str]:
    """Every table column (views excluded: they hold no rows) with a value holding a key."""
    columns = con.execute(
        """select c.table_schema, c.table_name, c.column_name
           from information_schema.columns c join information_schema.tables t
             using (table_catalog, table_schema, table_name)
           where t.table_catalog = current_database() and t.table_type = 'BASE TABLE'
             and c.data_type in ('VARCHAR', 'BLOB', 'JSON')"""
    ).fetchall()
    found = []
    for schema, table, column in columns:
        (hits,) = con.execute(
            f"""select count(*) from "{schema}"."{table}"
                where exists (select 1 from unnest(?::varchar[]) as k(key)
                              where contains(lower("{column}"::varchar), k.key))""",
            [list(keys.values())],
        ).fetchone()
        if hits:
            found.append(f"{schema}.{table}.{column}")
    return found


def test_the_warehouse_file_holds_no_hashing_key(built: BuiltHome) -> None:
    home, keys = built.home, hash_keys(built.home)
    assert len(keys) == len(built.identifiers)
    assert keys_in_bytes(home.warehouse, keys) == []
    wal = Path(f"{home.warehouse}.wal")
    assert not wal.exists() or keys_in_bytes(wal, keys) == []
    con = connect(home.warehouse, read_only=True)
    try:
        assert keys_in_tables(con, keys) == []
        tables_with_a_key_column = con.execute(
            """select table_schema || '.' || table_name from information_schema.columns
               join information_schema.tables using (table_catalog, table_schema, table_name)
               where column_name = 'hash_key' and table_type = 'BASE TABLE'"""
        ).fetchall()
        # what the models read of the keys is a view over the key store
        served = dict(con.execute("select * from staging.stg_raw__tenant_hash_keys").fetchall())
    finally:
        con.close()
    assert tables_with_a_key_column == []
    assert served == keys


def test_the_checks_find_a_planted_copy_of_the_keys(built: BuiltHome, tmp_path: Path) -> None:
    """The checks above can fail: a copy of the warehouse given the old raw.tenant_hash_keys."""
    keys = hash_keys(built.home)
    planted = tmp_path / "warehouse" / "tenantproof.duckdb"
    planted.parent.mkdir()
    shutil.copy(built.home.warehouse, planted)
    con = connect(planted)
    try:
        con.execute("create table raw.tenant_hash_keys (tenant_id varchar, hash_key varchar)")
        con.executemany("insert into raw.tenant_hash_keys values (?, ?)", list(keys.items()))
        assert keys_in_tables(con, keys) == ["raw.tenant_hash_keys.hash_key"]
    finally:
        con.close()
    assert keys_in_bytes(planted, keys) == sorted(keys)


def test_the_keyed_hashes_are_those_of_the_key_file(built: BuiltHome) -> None:
    """sha256(<tenant's key> ':' <value>), the key read from the key store: the marts are what
    they were when the warehouse held a copy of the keys."""
    keys = hash_keys(built.home)
    rows = built.query(
        """select f.tenant_id, f.impersonated_user, r.impersonated_user
           from marts.fct_access_history f join raw.access_history r using (access_id)
           where r.impersonated_user is not null"""
    )
    assert len({t for t, _, _ in rows}) >= 3  # impersonated_user is hashed by every profile
    for tenant, hashed, value in rows:
        assert hashed == hashlib.sha256(f"{keys[tenant]}:{value}".encode()).hexdigest()


def test_the_warehouse_is_the_owners_alone(built: BuiltHome) -> None:
    folder = built.home.warehouse.parent
    assert stat.S_IMODE(built.home.warehouse.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in folder.iterdir())


def test_any_process_creates_the_warehouse_and_its_wal_0600(tmp_path: Path) -> None:
    """The folder decides, not the umask of whoever writes there: a process that is not this one
    (as dbt is not) opens the file with plain DuckDB under umask 022 and writes to it."""
    warehouse = tmp_path / "home" / "warehouse" / "tenantproof.duckdb"
    connect(warehouse).close()  # the first connection makes the folder private
    warehouse.unlink()
    script = """
import duckdb, os, stat, sys
os.umask(0o022)
con = duckdb.connect(sys.argv[1])
con.execute("create table t as select 1 as x")  # the WAL holds it until a checkpoint
print(*(oct(stat.S_IMODE(os.stat(p).st_mode)) for p in (sys.argv[1], sys.argv[1] + ".wal")))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(warehouse)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0o600", "0o600"]


def test_a_warehouse_created_0644_becomes_0600(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse" / "tenantproof.duckdb"
    warehouse.parent.mkdir()
    duckdb.connect(str(warehouse)).close()
    os.chmod(warehouse, 0o644)
    os.chmod(warehouse.parent, 0o755)
    connect(warehouse).close()
    assert stat.S_IMODE(warehouse.stat().st_mode) == 0o600
    assert stat.S_IMODE(warehouse.parent.stat().st_mode) == 0o700


def test_a_copied_home_reads_its_own_keys(home: Home) -> None:
    """The views read the key store by a path relative to the warehouse's folder: a copy of a
    home serves its own keys, not those of the home it was copied from."""
    keys = hash_keys(home)
    tenant = sorted(keys)[0]
    (home.keys / HASH_KEYS).write_text(json.dumps({tenant: keys[tenant]}), encoding="utf-8")
    con = connect(home.warehouse, read_only=True)
    try:
        served = con.execute("select * from staging.stg_raw__tenant_hash_keys").fetchall()
    finally:
        con.close()
    assert served == [(tenant, keys[tenant])]


def test_spark_gets_the_keys_from_the_key_store_owner_only(home: Home) -> None:
    con = connect(home.warehouse)
    try:
        rows = hand_raw_to_spark(con, home)
    finally:
        con.close()
    keys = hash_keys(home)
    folder = spark_raw_dir(home) / "tenant_hash_keys"
    handed = pq.read_table(folder).to_pylist()
    assert rows["tenant_hash_keys"] == len(keys)
    assert {r["tenant_id"]: r["hash_key"] for r in handed} == keys
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
