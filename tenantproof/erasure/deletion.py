"""Provable deletion of one tenant (spec §5.5: deletion is tenant-scoped and provable).

``delete_tenant`` removes the tenant's rows from every warehouse table, its landing rows, its
published and staged bundles, its keys (crypto-shredding: without its hashing key, the keyed
hashes left anywhere can no longer be linked to identities) and, through a callback, its Dagster
partitions; it redacts the tenant's id and name from every other row that mentions them, and
tombstones it so that later rows for it are quarantined (``tenant_deleted``) instead of loaded.
Then it checks by query and file scan that nothing of the tenant remains and writes a signed
certificate in the global area (``<home>/deletions/<tenant_id>/``).

A deletion is a sequence of idempotent steps recorded in ``progress.json`` beside the
certificate: a run killed midway resumes where it stopped, and the counts captured before the
first step survive into the certificate. It holds the warehouse's writer connection from the
first step to the last, so no build or export interleaves with it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from exports.contract import (
    DELETION,
    MANIFEST,
    NEVER,
    alternation,
    mention_pattern,
    sha256_file,
)
from exports.signing import ExportSigner
from tenantproof.core.files import write_atomic
from tenantproof.core.home import Home
from tenantproof.core.sources import FORMAT_SUFFIXES, SOURCES, Source
from tenantproof.core.warehouse import connect
from tenantproof.erasure.certificates import Check, tenant_area, utc_now, write_certificate
from tenantproof.ingest.ledger import LEDGER, unledger_quarantined, unledger_rows
from tenantproof.ingest.load import DECLARED_DIR, ensure_schema, landing_files, publish_registry

REDACTED = "[deleted tenant]"
PROGRESS = "progress.json"
CERTIFICATE = "certificate.json"
TOMBSTONES = "raw.tenant_tombstones"
QUARANTINE = "raw.quarantine"
# Seeds, reloaded from the repository by every dbt build: policy, not tenant rows.
SKIPPED_SCHEMAS = ("policy", "information_schema", "pg_catalog")
TEXT_TYPES = ("VARCHAR", "JSON")
STEPS = (
    "tombstone",
    "warehouse",
    "landing",
    "derived",
    "registry",
    "bundles",
    "keys",
    "partitions",
)
# Marks around every recognised tenant identifier while redacting, so that only whole
# identifiers equal to the deleted tenant's are replaced: deleting t1 leaves t1.eu alone.
MARK_OPEN, MARK_CLOSE = "\x01", "\x02"
# Bundles delivered to recipients (exports.delivery): removed with the tenant's bundles.
OUTBOX_GLOB = "outbox/*/*/{tenant}"

Log = Callable[[str], None]
Warehouse = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
PartitionRemover = Callable[[str], dict[str, Any]]


class UnknownTenant(LookupError):
    """The tenant is not registered: nothing was deleted."""


class DeletionIncomplete(RuntimeError):
    """The checks after deletion found something of the tenant: no certificate was written."""


@dataclass
class DeletionResult:
    certificate: Path
    document: dict[str, Any]
    already_deleted: bool = False


@dataclass(frozen=True)
class TenantInfo:
    tenant_id: str
    tenant_name: str | None
    tenant_class: str | None
    residency_region: str | None


# -- recognising the tenant in text --


@dataclass(frozen=True)
class Identifiers:
    """The deleted tenant's id and name, among every registered tenant's identifiers."""

    tenant_id: str
    tenant_name: str | None
    others: tuple[str, ...] = ()

    @property
    def own(self) -> list[str]:
        return [w for w in (self.tenant_id, self.tenant_name) if w]

    @property
    def marking(self) -> str:
        """Every tenant identifier as a whole word, longest first (as the dbt scrub macro)."""
        return mention_pattern([*self.own, *self.others]) or NEVER

    @property
    def own_marked(self) -> str:
        return "(?i)" + MARK_OPEN + alternation(self.own) + MARK_CLOSE

    @property
    def own_substring(self) -> str:
        return "(?i)" + alternation(self.own)

    def redact(self, text: str) -> str:
        own = {w.lower() for w in self.own}
        return re.sub(
            self.marking, lambda m: REDACTED if m.group(0).lower() in own else m.group(0), text
        )

    def may_name_tenant(self, text: str) -> bool:
        """Cheap pre-filter: the tenant's id or name occurs at all, in any case."""
        low = text.lower()
        return any(w.lower() in low for w in self.own)

    def params(self) -> dict[str, str]:
        return {
            "tenant_id": self.tenant_id,
            "identifiers": self.marking,
            "own_marked": self.own_marked,
            "mark": MARK_OPEN + r"\1" + MARK_CLOSE,
        }


def _marked(column: str) -> str:
    return f"regexp_replace({column}, $identifiers, $mark, 'g')"


def _names_tenant_sql(column: str) -> str:
    return f"coalesce(regexp_matches({_marked(column)}, $own_marked), false)"


def _redacted_sql(column: str) -> str:
    replaced = f"regexp_replace({_marked(column)}, $own_marked, '{REDACTED}', 'g')"
    return f"replace(replace({replaced}, chr(1), ''), chr(2), '')"


# -- which rows are the tenant's --


def _declared_sql(column: str) -> str:
    """A landing path under ``<source>/tenants/<tenant_id>/``: delivered by the tenant itself."""
    return (
        f"(len(string_split({column}, '/')) >= 4 and string_split({column}, '/')[2] = "
        f"'{DECLARED_DIR}' and string_split({column}, '/')[3] = $tenant_id)"
    )


def _quarantine_owned_sql() -> str:
    """The tenant's quarantined lines: its tenant_id, its own deliveries, or a malformed line
    that names it as tenant_id (JSON) or holds it as a cell (CSV)."""
    jsonl = ", ".join(f"'{s.name}'" for s in SOURCES.values() if s.format == "jsonl")
    csv_ = ", ".join(f"'{s.name}'" for s in SOURCES.values() if s.format == "csv")
    return (
        f"(tenant_hint = $tenant_id or {_declared_sql('file')} or (tenant_hint is null and "
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
            return _quarantine_owned_sql()
        if self.name == LEDGER:
            return _declared_sql("path")
        if "tenant_id" in self.columns:
            return "tenant_id = $tenant_id"
        return None

    def mentions(self) -> str | None:
        """The predicate for rows (not the tenant's own) that name the tenant in any text."""
        if not self.text_columns:
            return None
        return "(" + " or ".join(_names_tenant_sql(f'"{c}"') for c in self.text_columns) + ")"


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


def _params(ids: Identifiers, sql: str) -> dict[str, str]:
    """The named parameters a statement uses (DuckDB refuses unused ones)."""
    every = {**ids.params(), "tenant_id_re": re.escape(ids.tenant_id)}
    return {k: v for k, v in every.items() if re.search(rf"\${k}\b", sql)}


def _count(con: duckdb.DuckDBPyConnection, sql: str, ids: Identifiers) -> int:
    return int(con.execute(sql, _params(ids, sql)).fetchone()[0])


def _count_sql(table: Table, predicate: str, exclude_owned: bool = False) -> str:
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
            "rows": _count(con, _count_sql(table, owned), ids) if owned else 0,
            "mentions": _count(con, _count_sql(table, mentions, True), ids) if mentions else 0,
        }
    return out


# -- landing files --


def _csv_records(text: str) -> Iterator[tuple[list[str], str]]:
    """Each CSV record with its exact text, so kept records are written back byte for byte."""
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    for row in csv.reader(lines()):
        raw = "".join(consumed)
        consumed.clear()
        yield row, raw


def _jsonl_owned(text: str, ids: Identifiers) -> bool:
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if isinstance(record, dict):
        return record.get("tenant_id") == ids.tenant_id
    pattern = r'"tenant_id"\s*:\s*"' + re.escape(ids.tenant_id) + '"'
    return re.search(pattern, text) is not None


def _rewrite_jsonl(data: bytes, ids: Identifiers) -> tuple[bytes, int, int]:
    out, removed, redacted = [], 0, 0
    for line in data.splitlines(keepends=True):
        text = line.decode("utf-8", "surrogateescape")
        if not ids.may_name_tenant(text):
            out.append(line)
            continue
        if _jsonl_owned(text, ids):
            removed += 1
            continue
        new = ids.redact(text)
        redacted += new != text
        out.append(new.encode("utf-8", "surrogateescape"))
    return b"".join(out), removed, redacted


def _rewrite_csv(data: bytes, ids: Identifiers) -> tuple[bytes, int, int]:
    text = data.decode("utf-8", "surrogateescape")
    out, removed, redacted = [], 0, 0
    header: list[str] | None = None
    for row, raw in _csv_records(text):
        if header is None:
            header = row
            out.append(raw)
            continue
        if not ids.may_name_tenant(raw):
            out.append(raw)
            continue
        index = header.index("tenant_id") if "tenant_id" in header else None
        malformed = index is None or len(row) != len(header)
        owned = ids.tenant_id in row if malformed else row[index] == ids.tenant_id
        if owned:
            removed += 1
            continue
        new = ids.redact(raw)
        redacted += new != raw
        out.append(new)
    return "".join(out).encode("utf-8", "surrogateescape"), removed, redacted


def _rewrite_parquet(path: Path, ids: Identifiers) -> tuple[pa.Table | None, int, int]:
    table = pq.read_table(path, partitioning=None)
    removed = 0
    if "tenant_id" in table.column_names:
        owned = pc.equal(table.column("tenant_id").cast(pa.string()), ids.tenant_id)
        owned = owned.fill_null(False)
        removed = pc.sum(owned.cast(pa.int64())).as_py() or 0
        if removed:
            table = table.filter(pc.invert(owned))
    changed = pa.array([False] * table.num_rows, pa.bool_())
    for i, column in enumerate(table.schema):
        if not pa.types.is_string(column.type) or table.num_rows == 0:
            continue
        values = table.column(i)
        hits = pc.match_substring_regex(values, ids.own_substring).fill_null(False)
        if not pc.any(hits).as_py():
            continue
        marked = pc.replace_substring_regex(values, ids.marking, MARK_OPEN + r"\1" + MARK_CLOSE)
        new = pc.replace_substring_regex(marked, ids.own_marked, REDACTED)
        new = pc.replace_substring(pc.replace_substring(new, MARK_OPEN, ""), MARK_CLOSE, "")
        differs = pc.not_equal(new, values).fill_null(False)
        if pc.any(differs).as_py():
            table = table.set_column(i, column, pc.if_else(differs, new, values))
            changed = pc.or_(changed, differs.combine_chunks())
    redacted = pc.sum(changed.cast(pa.int64())).as_py() or 0
    return (table if removed or redacted else None), removed, redacted


def rewrite_landing_file(
    path: Path, source: Source, ids: Identifiers
) -> tuple[bytes | None, int, int]:
    """The file without the tenant's records and with its identifiers redacted from the rest
    (None when nothing changes), the records removed and the records redacted."""
    return rewrite_file(path, source.format, ids)


def rewrite_file(path: Path, fmt: str, ids: Identifiers) -> tuple[bytes | None, int, int]:
    """As ``rewrite_landing_file``, for any JSONL, CSV or Parquet file."""
    if fmt == "parquet":
        table, removed, redacted = _rewrite_parquet(path, ids)
        if table is None:
            return None, 0, 0
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return sink.getvalue().to_pybytes(), removed, redacted
    data = path.read_bytes()
    rewrite = _rewrite_jsonl if fmt == "jsonl" else _rewrite_csv
    new, removed, redacted = rewrite(data, ids)
    return (new if new != data else None), removed, redacted


def _declared_folders(home: Home, tenant_id: str) -> list[tuple[Source, Path]]:
    return [
        (s, home.landing / s.name / DECLARED_DIR / tenant_id)
        for s in SOURCES.values()
        if (home.landing / s.name / DECLARED_DIR / tenant_id).is_dir()
    ]


def _landing_candidates(home: Home, tenant_id: str) -> Iterator[tuple[Source, Path]]:
    for source in SOURCES.values():
        own = home.landing / source.name / DECLARED_DIR / tenant_id
        files, _ = landing_files(home.landing, source)
        for path in files:
            if own not in path.parents:
                yield source, path


def _derived_areas(home: Home) -> list[Path]:
    """Top folders of the home that no step owns: derived copies (an analytics snapshot, logs)
    whose JSONL, CSV and Parquet files are swept like landing files."""
    owned = {
        home.landing,
        home.warehouse.parent,
        home.exports,
        home.staging,
        home.keys,
        home.deletions,
        home.dagster_home,
        home.registry.parent,
        home.dbt_target.parent,
        home.root / "outbox",  # delivered bundles: whole tenant folders go in step_bundles
    }
    return sorted(p for p in home.root.iterdir() if p.is_dir() and p not in owned)


def _derived_files(home: Home) -> Iterator[tuple[str, Path]]:
    by_suffix = {suffix: fmt for fmt, suffixes in FORMAT_SUFFIXES.items() for suffix in suffixes}
    for area in _derived_areas(home):
        for path in sorted(area.rglob("*")):
            fmt = by_suffix.get(path.suffix)
            if fmt and path.is_file() and not path.name.startswith("."):
                yield fmt, path


def _partition_folders(home: Home, tenant_id: str) -> list[Path]:
    """Hive partition folders of the tenant in the derived areas (their files carry no
    tenant_id column: the folder name is the tenant)."""
    return sorted(p for area in _derived_areas(home) for p in area.rglob(f"tenant_id={tenant_id}"))


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path)


# -- the deletion --


def check_deletable(home: Home, tenant_id: str) -> TenantInfo:
    """The registered tenant, read without writing anything; UnknownTenant otherwise."""
    if not home.warehouse.exists():
        raise UnknownTenant(f"tenant {tenant_id}: no warehouse at {home.warehouse}")
    con = connect(home.warehouse, read_only=True)
    try:
        try:
            row = con.execute(
                "select tenant_name, tenant_class, residency_region from raw.tenants "
                "where tenant_id = ?",
                [tenant_id],
            ).fetchone()
        except duckdb.CatalogException:
            row = None
        tombstoned = False
        if row is None:
            with contextlib.suppress(duckdb.CatalogException):
                tombstoned = bool(
                    con.execute(
                        f"select count(*) from {TOMBSTONES} where tenant_id = ?", [tenant_id]
                    ).fetchone()[0]
                )
    finally:
        con.close()
    if row is None:
        if tombstoned:
            raise UnknownTenant(
                f"tenant {tenant_id} was already deleted (it is tombstoned) and has no "
                f"deletion in progress under {tenant_area(home, tenant_id)}"
            )
        raise UnknownTenant(
            f"tenant {tenant_id} is not in the tenant registry (raw.tenants): nothing was deleted"
        )
    return TenantInfo(tenant_id, *row)


@contextlib.contextmanager
def _default_warehouse(home: Home) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(home.warehouse)
    try:
        yield con
    finally:
        con.close()


class _Deletion:
    """One attempt at deleting one tenant; every step can be run again without harm."""

    def __init__(
        self,
        home: Home,
        con: duckdb.DuckDBPyConnection,
        progress: dict[str, Any],
        log: Log,
        forget_partitions: PartitionRemover | None,
    ) -> None:
        self.home = home
        self.con = con
        self.progress = progress
        self.log = log
        self.forget_partitions = forget_partitions
        self.tenant = progress["tenant_id"]
        others = [
            w
            for row in con.execute(
                "select tenant_id, tenant_name from raw.tenants where tenant_id <> ?", [self.tenant]
            ).fetchall()
            for w in row
            if w
        ]
        self.ids = Identifiers(self.tenant, progress.get("tenant_name"), tuple(others))

    @property
    def area(self) -> Path:
        return tenant_area(self.home, self.tenant)

    def save(self) -> None:
        self.area.mkdir(parents=True, exist_ok=True)
        data = json.dumps(self.progress, indent=2, sort_keys=True) + "\n"
        write_atomic(self.area / PROGRESS, data.encode())

    def run(self) -> None:
        if "plan" not in self.progress["steps"]:
            self.plan()
            self.done("plan")
        # A rerun sweeps the warehouse and landing again: since the first attempt tombstoned
        # the tenant, a build may have quarantined new rows of it (tenant_deleted) from files
        # delivered since. Both steps remove only what is still there.
        for step in ("warehouse", "landing"):
            if step in self.progress["steps"]:
                self.log(f"deleting tenant {self.tenant}: {step} again (rerun)")
                getattr(self, f"step_{step}")()
        for step in STEPS:
            if step not in self.progress["steps"]:
                self.log(f"deleting tenant {self.tenant}: {step}")
                getattr(self, f"step_{step}")()
                self.done(step)

    def done(self, step: str) -> None:
        self.progress["steps"].append(step)
        self.save()

    # -- before anything is removed --

    def plan(self) -> None:
        """What exists of the tenant now: the 'before' of the certificate, kept across reruns."""
        self.progress["before"] = table_counts(self.con, self.ids)
        self.progress["ledger_balance_before"] = self.ledger_balance()
        self.progress["bundles"] = self.bundles()
        self.progress["staged"] = [str(p.relative_to(self.home.root)) for p in self.staged()]
        self.progress["staged_content"] = self.staged_content()
        self.progress["delivered"] = self.delivered()
        self.progress["key_stores"] = self.key_stores()
        self.progress.setdefault("landing", {"rewritten": {}, "removed": {}})

    def ledger_balance(self) -> dict[str, list[int]]:
        """Per event source, ledger counts minus table rows: a deletion must not change it."""
        out = {}
        for source in SOURCES.values():
            if source.name == "tenants":
                continue  # the registry replaces rows on re-registration: no per-file balance
            loaded, quarantined = self.con.execute(
                f"""select
                    (select coalesce(sum(rows_loaded), 0) from {LEDGER} where source = $s)
                    - (select count(*) from {source.raw_table}),
                    (select coalesce(sum(rows_quarantined), 0) from {LEDGER} where source = $s)
                    - (select count(*) from {QUARANTINE} where source = $s)""",
                {"s": source.name},
            ).fetchone()
            out[source.name] = [int(loaded), int(quarantined)]
        return out

    def bundles(self) -> list[dict[str, Any]]:
        out = []
        for manifest in sorted(self.home.exports.glob(f"*/{self.tenant}/*/{MANIFEST}")):
            folder = manifest.parent
            files = [p for p in folder.iterdir() if p.is_file()]
            out.append(
                {
                    "bundle": str(folder.relative_to(self.home.exports)),
                    "manifest_sha256": sha256_file(manifest),
                    "files": len(files),
                    "bytes": sum(p.stat().st_size for p in files),
                }
            )
        return out

    def delivered(self) -> list[dict[str, Any]]:
        """Copies of the tenant's bundles in recipients' outboxes, each with its manifest hash."""
        pattern = OUTBOX_GLOB.format(tenant=self.tenant) + f"/*/{MANIFEST}"
        return [
            {
                "copy": str(m.parent.relative_to(self.home.root)),
                "manifest_sha256": sha256_file(m),
            }
            for m in sorted(self.home.root.glob(pattern))
        ]

    def staged_content(self) -> list[dict[str, Any]]:
        """Each staged folder of the tenant (no manifest yet): its files, bytes and one sha256
        over their names and hashes, so the certificate says what was removed."""
        out = []
        for folder in self.staged():
            files = sorted(p for p in folder.rglob("*") if p.is_file())
            digest = hashlib.sha256()
            for f in files:
                digest.update(f"{f.relative_to(folder)}\0{sha256_file(f)}\n".encode())
            out.append(
                {
                    "path": str(folder.relative_to(self.home.root)),
                    "files": len(files),
                    "bytes": sum(f.stat().st_size for f in files),
                    "content_sha256": digest.hexdigest(),
                }
            )
        return out

    def tenant_folders(self) -> list[Path]:
        """Published bundles, and the copies delivered to recipients' local outboxes
        (``<home>/outbox/<recipient>/<region>/<tenant>``, exports.delivery)."""
        found = [
            *self.home.exports.glob(f"*/{self.tenant}"),
            *self.home.root.glob(OUTBOX_GLOB.format(tenant=self.tenant)),
        ]
        return sorted(p for p in found if p.is_dir())

    def staged(self) -> list[Path]:
        found = {p for p in self.home.staging.glob(f"*/*/{self.tenant}") if p.is_dir()}
        found |= {p for p in self.home.staging.rglob(f"tenant_id={self.tenant}") if p.is_dir()}
        return sorted(found)

    def key_stores(self) -> list[str]:
        """Every key store under keys/ (a JSON map keyed by tenant id) holding the tenant."""
        out = []
        for path in sorted(self.home.keys.rglob("*.json")):
            try:
                keys = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(keys, dict) and self.tenant in keys:
                out.append(str(path.relative_to(self.home.root)))
        return out

    # -- the steps --

    def step_tombstone(self) -> None:
        self.con.execute(
            f"""insert into {TOMBSTONES}
            select ?, ?::timestamp, ? where ? not in (select tenant_id from {TOMBSTONES})""",
            [
                self.tenant,
                self.progress["requested_at"].replace("+00:00", ""),
                self.progress["reason"],
                self.tenant,
            ],
        )

    def step_warehouse(self) -> None:
        """One transaction: the ledger follows the rows, every table loses the tenant's rows,
        every other row that names the tenant is redacted."""
        con, ids = self.con, self.ids
        con.execute("begin transaction")
        try:
            sql = f"delete from {LEDGER} where {_declared_sql('path')}"
            con.execute(sql, _params(ids, sql))
            for source in SOURCES.values():
                if "tenant_id" not in source.columns:
                    continue
                counts = (
                    f"select _sha256, count(*) as n from {source.raw_table} "
                    "where tenant_id = $tenant_id group by _sha256"
                )
                unledger_rows(con, source.name, counts, _params(ids, counts))
            self._unledger_quarantine()
            for table in warehouse_tables(con):
                if table.view:
                    continue
                owned = table.owned()
                if owned:
                    sql = f"delete from {table.name} where {owned}"
                    con.execute(sql, _params(ids, sql))
                _redact_table(con, table, ids)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    def _unledger_quarantine(self) -> None:
        """The tenant's quarantined lines leave the ledger's counts (``unledger_quarantined``)."""
        sql = (
            f"select source, file, quarantined_at, count(*) from {QUARANTINE} "
            f"where {_quarantine_owned_sql()} group by all"
        )
        unledger_quarantined(self.con, self.con.execute(sql, _params(self.ids, sql)).fetchall())

    def step_landing(self) -> None:
        """Rewrite every landing file without the tenant's records; the ledger entry follows
        the new sha256, so the rewritten file does not load again as new."""
        record = self.progress["landing"]
        for _, folder in _declared_folders(self.home, self.tenant):
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                rel = str(path.relative_to(self.home.landing))
                record["removed"].setdefault(
                    rel, {"sha256": sha256_file(path), "bytes": path.stat().st_size}
                )
            self.save()
            _remove_tree(folder)
        for source, path in _landing_candidates(self.home, self.tenant):
            rel = str(path.relative_to(self.home.landing))
            try:
                new, removed, redacted = rewrite_landing_file(path, source, self.ids)
            except (OSError, ValueError, pa.ArrowException) as exc:
                # It may hold the tenant's rows: the checks after name it, no certificate.
                record.setdefault("unreadable", {})[rel] = str(exc)[:300]
                continue
            record.get("unreadable", {}).pop(rel, None)
            if new is None:
                continue
            old_sha = sha256_file(path)
            entry = record["rewritten"].setdefault(
                rel,
                {
                    "source": source.name,
                    "sha256_before": old_sha,
                    "records_removed": removed,
                    "records_redacted": redacted,
                },
            )
            previous_new = entry.get("sha256_after")
            entry["sha256_after"] = hashlib.sha256(new).hexdigest()
            self.save()
            self.con.execute(
                f"update {LEDGER} set sha256 = ? where source = ? and sha256 in (?, ?, ?)",
                [
                    entry["sha256_after"],
                    source.name,
                    entry["sha256_before"],
                    old_sha,
                    previous_new or old_sha,
                ],
            )
            write_atomic(path, new)

    def step_derived(self) -> None:
        """Derived copies outside the warehouse lose the tenant's rows now, not at their next
        refresh: a certificate must not be contradicted by an analytics snapshot."""
        record = self.progress.setdefault("derived", {"rewritten": {}, "removed": []})
        # dbt's run artefacts and logs (compiled SQL names tenants): the next build writes anew.
        folders = [self.home.dbt_target.parent] if self.home.dbt_target.parent.exists() else []
        for folder in [*folders, *_partition_folders(self.home, self.tenant)]:
            rel = str(folder.relative_to(self.home.root))
            if rel not in record["removed"]:
                record["removed"].append(rel)
            self.save()
            _remove_tree(folder)
        for fmt, path in _derived_files(self.home):
            rel = str(path.relative_to(self.home.root))
            try:
                new, removed, redacted = rewrite_file(path, fmt, self.ids)
            except (OSError, ValueError, pa.ArrowException) as exc:
                record.setdefault("unreadable", {})[rel] = str(exc)[:300]
                continue
            if new is None:
                continue
            record["rewritten"].setdefault(
                rel,
                {
                    "sha256_before": sha256_file(path),
                    "records_removed": removed,
                    "records_redacted": redacted,
                },
            )["sha256_after"] = hashlib.sha256(new).hexdigest()
            self.save()
            write_atomic(path, new)

    def step_registry(self) -> None:
        publish_registry(self.con, self.home.registry)

    def step_bundles(self) -> None:
        for folder in [*self.tenant_folders(), *self.staged()]:
            _remove_tree(folder)

    def step_keys(self) -> None:
        for rel in self.progress["key_stores"]:
            path = self.home.root / rel
            if not path.exists():
                continue
            keys = json.loads(path.read_text(encoding="utf-8"))
            if self.tenant in keys:
                del keys[self.tenant]
                data = json.dumps(keys, indent=1, sort_keys=True).encode()
                write_atomic(path, data, mode=0o600)

    def step_partitions(self) -> None:
        if self.forget_partitions is None:
            self.progress["partitions"] = {"note": "no Dagster instance was given"}
        else:
            self.progress["partitions"] = self.forget_partitions(self.tenant)

    # -- after --

    def verify(self) -> tuple[list[Check], dict[str, dict[str, int]]]:
        """Query every table and scan every file again: nothing of the tenant may remain."""
        con, ids = self.con, self.ids
        checks: list[Check] = []
        after: dict[str, dict[str, int]] = {}
        for table in warehouse_tables(con):
            owned, mentions = table.owned(), table.mentions()
            if table.view:
                if owned:
                    sql = _count_sql(table, owned)
                    with contextlib.suppress(duckdb.Error):
                        checks.append(
                            Check(
                                f"{table.name}: rows of the tenant (view)",
                                sql,
                                _count(con, sql, ids),
                            )
                        )
                continue
            counts = after.setdefault(table.name, {"rows": 0, "mentions": 0})
            if owned:
                sql = _count_sql(table, owned)
                counts["rows"] = _count(con, sql, ids)
                checks.append(Check(f"{table.name}: rows of the tenant", sql, counts["rows"]))
            if mentions:
                sql = _count_sql(table, mentions)
                counts["mentions"] = _count(con, sql, ids)
                checks.append(
                    Check(f"{table.name}: rows naming the tenant", sql, counts["mentions"])
                )
        sql = f"select count(*) from {TOMBSTONES} where tenant_id = $tenant_id"
        checks.append(Check("tombstone recorded", sql, _count(con, sql, ids), expected=1))
        for source, (loaded, quarantined) in self.ledger_balance().items():
            was = self.progress["ledger_balance_before"][source]
            checks.append(
                Check(
                    f"{LEDGER}: rows_loaded minus rows in raw.{source}, unchanged",
                    f"sum(rows_loaded) of {LEDGER} - count(*) of raw.{source}",
                    loaded,
                    expected=was[0],
                )
            )
            checks.append(
                Check(
                    f"{LEDGER}: rows_quarantined minus quarantined {source} rows, unchanged",
                    f"sum(rows_quarantined) of {LEDGER} - count(*) of {QUARANTINE}",
                    quarantined,
                    expected=was[1],
                )
            )
        checks += self.file_checks()
        return checks, after

    def file_checks(self) -> list[Check]:
        owned = named = unreadable = 0
        for source, path in _landing_candidates(self.home, self.tenant):
            try:
                _, removed, redacted = rewrite_landing_file(path, source, self.ids)
            except (OSError, ValueError, pa.ArrowException):
                unreadable += 1
                continue
            owned, named = owned + removed, named + redacted
        derived_owned = derived_named = derived_unreadable = 0
        for fmt, path in _derived_files(self.home):
            try:
                _, removed, redacted = rewrite_file(path, fmt, self.ids)
            except (OSError, ValueError, pa.ArrowException):
                derived_unreadable += 1
                continue
            derived_owned, derived_named = derived_owned + removed, derived_named + redacted
        areas = ", ".join(f"{p.name}/" for p in _derived_areas(self.home)) or "none"
        checks = [
            Check(f"derived files ({areas}): records of the tenant", "scan", derived_owned),
            Check(f"derived files ({areas}): records naming the tenant", "scan", derived_named),
            Check(f"derived files ({areas}): unreadable", "scan", derived_unreadable),
            Check(
                "derived files: partition folders of the tenant",
                "**/tenant_id=$tenant_id/",
                len(_partition_folders(self.home, self.tenant)),
            ),
            Check(
                "landing: tenant's own delivery folders",
                "landing/*/tenants/$tenant_id/",
                len(_declared_folders(self.home, self.tenant)),
            ),
            Check("landing: records of the tenant", "scan of every landing file", owned),
            Check("landing: records naming the tenant", "scan of every landing file", named),
            Check("landing: files that cannot be read", "scan of every landing file", unreadable),
            Check(
                "exports: published bundle folders",
                "exports/*/$tenant_id/",
                len(self.tenant_folders()),
            ),
            Check("staging: staged bundle folders", "staging/*/*/$tenant_id/", len(self.staged())),
            Check(
                "keys: key store entries",
                "keys/**/*.json keyed by $tenant_id",
                len(self.key_stores()),
            ),
        ]
        registry = 0
        if self.home.registry.exists():
            ids = pq.read_table(self.home.registry, columns=["tenant_id"]).column(0).to_pylist()
            registry = ids.count(self.tenant)
        checks.append(
            Check("registry: published tenant registry rows", "registry/tenants.parquet", registry)
        )
        partitions = self.progress.get("partitions", {})
        if "present_after" in partitions:
            checks.append(
                Check(
                    "dagster: tenant partition",
                    "instance.has_dynamic_partition('tenants', $tenant_id)",
                    int(partitions["present_after"]),
                )
            )
        return checks


def _redact_table(con: duckdb.DuckDBPyConnection, table: Table, ids: Identifiers) -> int:
    """Replace the tenant's id and name by REDACTED in every text cell of every row left."""
    mentions = table.mentions()
    if mentions is None:
        return 0
    quoted = [f'"{c}"' for c in table.text_columns]
    sets = ", ".join(
        f"{c} = case when {_names_tenant_sql(c)} then {_redacted_sql(c)} else {c} end"
        for c in quoted
    )
    sql = f"update {table.name} set {sets} where {mentions}"
    return con.execute(sql, _params(ids, sql)).fetchone()[0]


def delete_tenant(
    home: Home,
    tenant_id: str,
    reason: str,
    *,
    requested_by: str,
    warehouse: Warehouse | None = None,
    forget_partitions: PartitionRemover | None = None,
    signer: ExportSigner | None = None,
    log: Log = lambda message: None,
) -> DeletionResult:
    """Delete the tenant, prove it, and return the signed certificate (see the module doc).

    A completed deletion returns its certificate again; a started one resumes."""
    area = tenant_area(home, tenant_id)
    certificate = area / CERTIFICATE
    progress_path = area / PROGRESS
    progress = (
        json.loads(progress_path.read_text(encoding="utf-8")) if progress_path.exists() else None
    )
    if progress and progress.get("completed_at") and certificate.exists():
        return DeletionResult(
            certificate, json.loads(certificate.read_text()), already_deleted=True
        )
    if progress is None:
        if not reason.strip():
            raise ValueError("a deletion needs a reason")
        info = check_deletable(home, tenant_id)
        progress = {
            "tenant_id": tenant_id,
            "tenant_name": info.tenant_name,
            "tenant_class": info.tenant_class,
            "residency_region": info.residency_region,
            "reason": reason,
            "requested_by": requested_by,
            "requested_at": utc_now(),
            "attempts": [],
            "steps": [],
        }
    progress["attempts"].append({"started_at": utc_now(), "requested_by": requested_by})
    with (warehouse or (lambda: _default_warehouse(home)))() as con:
        ensure_schema(con)
        run = _Deletion(home, con, progress, log, forget_partitions)
        run.save()
        run.run()
        checks, after = run.verify()
    failed = [c for c in checks if not c.passed]
    progress["verification"] = [c.as_dict() for c in checks]
    run.save()
    if failed:
        raise DeletionIncomplete(
            f"tenant {tenant_id}: {len(failed)} check(s) found the tenant after deletion, no "
            "certificate written: "
            + "; ".join(f"{c.check} = {c.result} (expected {c.expected})" for c in failed)
        )
    document = _certificate(progress, checks, after)
    write_certificate(certificate, document, signer, home)
    progress["completed_at"] = document["completed_at"]
    progress["tenant_name"] = None  # the certificate names the tenant by id only
    run.save()
    log(f"deleted tenant {tenant_id}; certificate {certificate}")
    return DeletionResult(certificate, json.loads(certificate.read_text()))


def _certificate(
    progress: dict[str, Any], checks: list[Check], after: dict[str, dict[str, int]]
) -> dict[str, Any]:
    before = progress["before"]
    tables = [
        {
            "table": name,
            "rows_before": before.get(name, {}).get("rows", 0),
            "rows_after": after.get(name, {}).get("rows", 0),
            "mentions_before": before.get(name, {}).get("mentions", 0),
            "mentions_after": after.get(name, {}).get("mentions", 0),
        }
        for name in sorted(set(before) | set(after))
    ]
    landing = progress["landing"]
    return {
        "kind": DELETION,
        "tenant_id": progress["tenant_id"],
        "tenant_class": progress["tenant_class"],
        "residency_region": progress["residency_region"],
        "reason": progress["reason"],
        "requested_by": progress["requested_by"],
        "requested_at": progress["requested_at"],
        "completed_at": utc_now(),
        "attempts": progress["attempts"],
        "tombstone": {"table": TOMBSTONES, "quarantine_reason_code": "tenant_deleted"},
        "redaction": {
            "replacement": REDACTED,
            "rule": "the tenant id or name as a whole word, any case, in every text column of "
            "every remaining row and landing record",
        },
        "tables": tables,
        "landing": {
            "files_removed": [{"path": k, **v} for k, v in sorted(landing["removed"].items())],
            "files_rewritten": [{"path": k, **v} for k, v in sorted(landing["rewritten"].items())],
        },
        "derived_files": {
            "partition_folders_removed": progress.get("derived", {}).get("removed", []),
            "files_rewritten": [
                {"path": k, **v}
                for k, v in sorted(progress.get("derived", {}).get("rewritten", {}).items())
            ],
        },
        "bundles_removed": progress["bundles"],
        "staged_removed": progress["staged"],
        "staged_content_removed": progress.get("staged_content", []),
        "delivered_copies_removed": progress.get("delivered", []),
        "keys_removed": [{"store": s, "entries_removed": 1} for s in progress["key_stores"]],
        "dagster_partitions": progress.get("partitions", {}),
        "verification": [c.as_dict() for c in checks],
        "verified": all(c.passed for c in checks),
    }
