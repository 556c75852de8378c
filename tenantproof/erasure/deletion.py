"""Provable deletion of one tenant (spec §5.5: deletion is tenant-scoped and provable).

``delete_tenant`` removes the tenant's rows from every warehouse table, its landing rows, its
published and staged bundles, its keys (crypto-shredding: without its hashing key, the keyed
hashes left anywhere can no longer be linked to identities) and, through a callback, its Dagster
partitions; it redacts the tenant's id and name from every other row that mentions them, and
tombstones it so that later rows for it are quarantined (``tenant_deleted``) instead of loaded.
Down to the bytes: it removes the tenant's rows from Dagster's SQLite stores and vacuums them
(``sqlite_scrub``), and rewrites the warehouse into a fresh file (``compaction``), since deleted
rows stay as bytes in a database file's free blocks. Then it checks by query, by decoded file
scan and by a scan of the raw bytes of every file under the home (``bytescan``) that nothing of
the tenant remains, and writes a signed certificate in the global area
(``<home>/deletions/<tenant_id>/``).

A deletion is a sequence of idempotent steps recorded in ``progress.json`` beside the
certificate: a run killed midway resumes where it stopped, and the counts captured before the
first step survive into the certificate. It holds the warehouse's writer connection from the
first step to the last (the last replaces the file, whose copy it holds open until verified),
so no build or export interleaves with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from exports.contract import (
    DELETION,
    MANIFEST,
    sha256_file,
)
from exports.leftovers import FAILURE_REPORT_SUFFIX
from exports.signing import ExportSigner
from tenantproof.core.files import write_atomic
from tenantproof.core.home import Home
from tenantproof.core.sources import SOURCES
from tenantproof.core.warehouse import connect
from tenantproof.core.warehouse import sql_literal as _q
from tenantproof.erasure.bytescan import (
    KINDS,
    TENANT_ID,
    BytePatterns,
    Exemption,
    describe_scan,
    scan_home,
)
from tenantproof.erasure.certificates import Check, tenant_area, utc_now, write_certificate
from tenantproof.erasure.compaction import compact
from tenantproof.erasure.footprint import (
    QUARANTINE,
    TOMBSTONES,
    contact_cells,
    count_sql,
    declared_folders,
    declared_sql,
    delivered_folders,
    derived_areas,
    derived_files,
    landing_candidates,
    partition_folders,
    quarantine_owned_sql,
    redact_table,
    table_counts,
    tenant_contacts,
    warehouse_tables,
)
from tenantproof.erasure.redaction import (
    REDACTED,
    Identifiers,
    count_rows,
    sql_params,
)
from tenantproof.erasure.rewrite import (
    rewrite_file,
    rewrite_landing_file,
    rewrite_lines,
)
from tenantproof.erasure.sqlite_scrub import dagster_remnants, own_run_exemptions, scrub_dagster
from tenantproof.ingest.landing import scan_landing
from tenantproof.ingest.ledger import LEDGER, unledger_quarantined, unledger_rows
from tenantproof.ingest.load import ensure_schema
from tenantproof.ingest.mapping import load_mappings
from tenantproof.ingest.registry import publish_registry

PROGRESS = "progress.json"
CERTIFICATE = "certificate.json"
STEPS = (
    "tombstone",
    "warehouse",
    "landing",
    "derived",
    "registry",
    "bundles",
    "keys",
    "partitions",
    "dagster",
    "compact",
)
# Run again by every attempt, after the others: a failed attempt's own Dagster run named the
# tenant, and a rerun writes to the warehouse again (see ``_Deletion.run``).
EVERY_ATTEMPT = ("dagster", "compact")

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
        own_run: str | None = None,
    ) -> None:
        self.home = home
        self.con = con
        self.progress = progress
        self.log = log
        self.forget_partitions = forget_partitions
        self.own_run = own_run
        self.fresh: duckdb.DuckDBPyConnection | None = None  # the rewritten warehouse
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

    @property
    def patterns(self) -> BytePatterns:
        contacts = self.progress.get("contacts") or {}
        return BytePatterns(
            self.tenant,
            self.progress.get("tenant_name"),
            tuple(contacts.get("email_domains") or ()),
            tuple(contacts.get("email_addresses") or ()),
            self.ids.others,
        )

    def save(self) -> None:
        self.area.mkdir(parents=True, exist_ok=True)
        data = json.dumps(self.progress, indent=2, sort_keys=True) + "\n"
        write_atomic(self.area / PROGRESS, data.encode())

    def run(self) -> None:
        if "plan" not in self.progress["steps"]:
            self.plan()
            self.done("plan")
        if "contacts" not in self.progress:  # a deletion started before contacts were kept
            self.plan_contacts()
            self.save()
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
            elif step in EVERY_ATTEMPT:
                self.log(f"deleting tenant {self.tenant}: {step} again (rerun)")
                getattr(self, f"step_{step}")()
                self.save()

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
        self.plan_contacts()

    def plan_contacts(self) -> None:
        """The tenant's e-mail addresses and domains, for the byte scan: kept in the progress
        record (never in the certificate) until the certificate is written."""
        addresses, domains = tenant_contacts(self.con, self.ids)
        self.progress["contacts"] = {"email_addresses": addresses, "email_domains": domains}

    def ledger_balance(self) -> dict[str, list[int]]:
        """Per event source, ledger counts minus table rows: a deletion must not change it."""
        out = {}
        for source in SOURCES.values():
            if source.name == "tenants":
                continue  # the registry replaces rows on re-registration: no per-file balance
            loaded, quarantined = self.con.execute(
                f"""select
                    (select coalesce(sum(rows_loaded), 0) from {LEDGER}
                     where coalesce(entity, source) = $s)
                    - (select count(*) from {source.raw_table}),
                    (select coalesce(sum(rows_quarantined), 0) from {LEDGER}
                     where coalesce(entity, source) = $s)
                    - (select count(*) from {QUARANTINE} where coalesce(entity, source) = $s)""",
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
        return [
            {
                "copy": str(m.parent.relative_to(self.home.root)),
                "manifest_sha256": sha256_file(m),
            }
            for folder in delivered_folders(self.home, self.tenant)
            for m in sorted(folder.glob(f"*/{MANIFEST}"))
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
            *delivered_folders(self.home, self.tenant),
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

    def capture_lineage(self) -> None:
        """Before the warehouse loses them: the landing lines the tenant's rows were loaded from
        by sources whose records do not name their tenant (a lookup, a delivery folder), per
        file. The landing step removes exactly those; a rerun adds what a later build loaded."""
        lineage = self.progress["landing"].setdefault("lineage", {})
        native = ", ".join(_q(name) for name in SOURCES)
        parts = [
            f"select _source, _file, _line from {s.raw_table} where tenant_id = $tenant_id "
            f"and _source is not null and _source not in ({native})"
            for s in SOURCES.values()
            if "tenant_id" in s.columns
        ]
        parts.append(
            f"select source, file, line from {QUARANTINE} where tenant_hint = $tenant_id "
            f"and line is not null and source not in ({native})"
        )
        sql = (
            "select s, f, list(distinct l order by l) from (" + " union all ".join(parts) + ") "
            "t(s, f, l) group by s, f order by f"
        )
        for source, file, lines in self.con.execute(sql, sql_params(self.ids, sql)).fetchall():
            entry = lineage.setdefault(file, {"source": source, "lines": []})
            entry["lines"] = sorted(set(entry["lines"]) | set(lines))
        self.save()

    def step_warehouse(self) -> None:
        """One transaction: the ledger follows the rows, every table loses the tenant's rows,
        every other row that names the tenant is redacted."""
        con, ids = self.con, self.ids
        self.capture_lineage()
        con.execute("begin transaction")
        try:
            sql = f"delete from {LEDGER} where {declared_sql('path')}"
            con.execute(sql, sql_params(ids, sql))
            for source in SOURCES.values():
                if "tenant_id" not in source.columns:
                    continue
                counts = (
                    f"select _sha256, count(*) as n from {source.raw_table} "
                    "where tenant_id = $tenant_id group by _sha256"
                )
                unledger_rows(con, source.name, counts, sql_params(ids, counts))
            self._unledger_quarantine()
            for table in warehouse_tables(con):
                if table.view:
                    continue
                owned = table.owned()
                if owned:
                    sql = f"delete from {table.name} where {owned}"
                    con.execute(sql, sql_params(ids, sql))
                redact_table(con, table, ids)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    def _unledger_quarantine(self) -> None:
        """The tenant's quarantined lines leave the ledger's counts (``unledger_quarantined``)."""
        sql = (
            f"select source, file, quarantined_at, count(*) from {QUARANTINE} "
            f"where {quarantine_owned_sql()} group by all"
        )
        unledger_quarantined(self.con, self.con.execute(sql, sql_params(self.ids, sql)).fetchall())

    def step_landing(self) -> None:
        """Rewrite every landing file without the tenant's records; the ledger entry follows
        the new sha256, so the rewritten file does not load again as new."""
        record = self.progress["landing"]
        for _, folder in declared_folders(self.home, self.tenant):
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                rel = str(path.relative_to(self.home.landing))
                record["removed"].setdefault(
                    rel, {"sha256": sha256_file(path), "bytes": path.stat().st_size}
                )
            self.save()
            _remove_tree(folder)
        for source, path in landing_candidates(self.home, self.tenant):
            rel = str(path.relative_to(self.home.landing))
            try:
                new, removed, redacted = rewrite_landing_file(path, source, self.ids)
            except (OSError, ValueError, pa.ArrowException) as exc:
                # It may hold the tenant's rows: the checks after name it, no certificate.
                record.setdefault("unreadable", {})[rel] = str(exc)[:300]
                continue
            record.get("unreadable", {}).pop(rel, None)
            if new is not None:
                self.replace_landing_file(rel, path, source.name, new, removed, redacted)
        self.rewrite_lineage()

    def replace_landing_file(
        self, rel: str, path: Path, source: str, new: bytes, removed: int, redacted: int
    ) -> None:
        """Record a rewrite in the progress first, move the file's ledger entry to the new
        sha256 (so it does not load again as new), then write the file in one step."""
        record = self.progress["landing"]
        old_sha = sha256_file(path)
        entry = record["rewritten"].setdefault(
            rel,
            {
                "source": source,
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
                source,
                entry["sha256_before"],
                old_sha,
                previous_new or old_sha,
            ],
        )
        write_atomic(path, new)

    def vendor_files(self) -> Iterator[tuple[str, Path, Any]]:
        """(source, path, read) of every landing file a vendor's mapping reads: sources whose
        records do not name their tenant, so their files are rewritten by lineage."""
        mappings = load_mappings(self.home)
        for mapping in mappings:
            if mapping.name in SOURCES:
                continue
            for path in scan_landing(self.home.landing, mapping, mappings).files:
                rel = path.relative_to(self.home.landing).as_posix()
                yield mapping.name, path, mapping.read_for(rel)

    def rewrite_lineage(self) -> None:
        """Vendor files lose the tenant's records by their lineage (the lines its loaded and
        quarantined rows came from) and the tenant's identifiers in the rest."""
        record = self.progress["landing"]
        lineage = record.get("lineage", {})
        for source, path, read in self.vendor_files():
            rel = path.relative_to(self.home.landing).as_posix()
            lines = set(lineage.get(rel, {}).get("lines", ()))
            done = record["rewritten"].get(rel)
            if done and sha256_file(path) != done["sha256_before"]:
                lines = set()  # rewritten already (a rerun): the numbers were of the old file
            try:
                new, removed, redacted = rewrite_lines(
                    path, read.format, lines, self.ids, read.records
                )
            except (OSError, ValueError, EOFError, pa.ArrowException) as exc:
                record.setdefault("unreadable", {})[rel] = str(exc)[:300]
                continue
            record.get("unreadable", {}).pop(rel, None)
            if new is not None:
                self.replace_landing_file(rel, path, source, new, removed, redacted)

    def step_derived(self) -> None:
        """Derived copies outside the warehouse lose the tenant's rows now, not at their next
        refresh: a certificate must not be contradicted by an analytics snapshot."""
        record = self.progress.setdefault("derived", {"rewritten": {}, "removed": []})
        # dbt's run artefacts and logs (compiled SQL names tenants): the next build writes anew.
        folders = [self.home.dbt_target.parent] if self.home.dbt_target.parent.exists() else []
        for folder in [*folders, *partition_folders(self.home, self.tenant)]:
            rel = str(folder.relative_to(self.home.root))
            if rel not in record["removed"]:
                record["removed"].append(rel)
            self.save()
            _remove_tree(folder)
        for fmt, path in derived_files(self.home):
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
        # the counts-only reports of withheld bundles (exports.pipeline) name their tenants
        for report in sorted(self.home.staging.glob(f"*{FAILURE_REPORT_SUFFIX}")):
            try:
                doc = json.loads(report.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            kept = _without_tenant(doc, self.ids)
            if kept != doc:
                write_atomic(report, json.dumps(kept, indent=2) + "\n")

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

    def step_dagster(self) -> None:
        """What Dagster's API left (the tenant's events in runs of several tenants, tenant ids
        in metadata and tags, freed pages) removed from its SQLite stores, which are vacuumed."""
        record = scrub_dagster(self.home.root, self.home.dagster_home, self.patterns, self.own_run)
        self.progress["dagster_storage"] = {
            "rule": "in every SQLite store under dagster/: event-log rows of the tenant's "
            "partitions deleted (with their tags), every other cell naming its id, name, e-mail "
            "domain or addresses redacted, the store vacuumed and its write-ahead log "
            "truncated; compute logs naming it redacted; the run executing this deletion kept",
            "own_run": self.own_run,
            **record,
        }

    def step_compact(self) -> None:
        """The warehouse rewritten into a fresh file (the last step that touches it)."""
        if self.fresh is not None:  # compacted already in this attempt
            return
        self.fresh, record = compact(self.con, self.home.warehouse)
        self.progress["warehouse_rewrite"] = {**record, "rewritten_at": utc_now()}

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
                    sql = count_sql(table, owned)
                    with contextlib.suppress(duckdb.Error):
                        checks.append(
                            Check(
                                f"{table.name}: rows of the tenant (view)",
                                sql,
                                count_rows(con, sql, ids),
                            )
                        )
                continue
            counts = after.setdefault(table.name, {"rows": 0, "mentions": 0})
            if owned:
                sql = count_sql(table, owned)
                counts["rows"] = count_rows(con, sql, ids)
                checks.append(Check(f"{table.name}: rows of the tenant", sql, counts["rows"]))
            if mentions:
                sql = count_sql(table, mentions)
                counts["mentions"] = count_rows(con, sql, ids)
                checks.append(
                    Check(f"{table.name}: rows naming the tenant", sql, counts["mentions"])
                )
        sql = f"select count(*) from {TOMBSTONES} where tenant_id = $tenant_id"
        checks.append(Check("tombstone recorded", sql, count_rows(con, sql, ids), expected=1))
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
        checks += self.contact_checks()
        checks += self.dagster_checks()
        checks += self.byte_checks()
        return checks, after

    def contact_checks(self) -> list[Check]:
        contacts = self.progress.get("contacts") or {}
        found = contact_cells(
            self.con, contacts.get("email_addresses") or [], contacts.get("email_domains") or []
        )
        query = "the tenant's e-mail addresses and domains in every text column (lowercased)"
        checks = [
            Check(f"{table}: rows holding the tenant's e-mail addresses or domain", query, n)
            for table, n in sorted(found.items())
        ]
        checks.append(
            Check(
                "warehouse: rows holding the tenant's e-mail addresses or domain",
                query,
                sum(found.values()),
            )
        )
        return checks

    def dagster_checks(self) -> list[Check]:
        found = dagster_remnants(
            self.home.root, self.home.dagster_home, self.patterns, self.own_run
        )
        query = (
            "every cell of every table (text as stored, zlib blobs decompressed), and event-log "
            "rows keyed by the tenant's partitions; the deletion run's own rows excepted"
        )
        checks = [
            Check(f"dagster: {rel}: rows naming the tenant", query, n)
            for rel, n in sorted(found.items())
            if n
        ]
        checks.append(
            Check(
                f"dagster: rows naming the tenant in {len(found)} SQLite store(s)",
                query,
                sum(found.values()),
            )
        )
        return checks

    def exemptions(self) -> list[Exemption]:
        """The files that may name the tenant by design, each with the reason."""
        area = self.area.relative_to(self.home.root).as_posix()
        warehouse = self.home.warehouse.relative_to(self.home.root).as_posix()
        return [
            Exemption(
                f"{area}/{PROGRESS}",
                KINDS,
                "this deletion's progress record: it holds the tenant's name and e-mail "
                "addresses while the deletion runs (to resume it and to scan for them) and is "
                "rewritten without them when the certificate is written",
            ),
            Exemption(
                f"{area}/",
                (TENANT_ID,),
                "this tenant's deletion and retention records (the certificate, its signature "
                "and key): they name it by id",
            ),
            Exemption(
                warehouse,
                (TENANT_ID,),
                f"the tombstone ({TOMBSTONES}, with its column statistics and primary-key "
                "index) names the tenant so that later deliveries for it are quarantined; rows "
                "naming it anywhere else are counted by the SQL checks",
            ),
            *own_run_exemptions(
                self.home.root, self.home.dagster_home, self.own_run, self.patterns
            ),
        ]

    def byte_checks(self) -> list[Check]:
        patterns, exemptions = self.patterns, self.exemptions()
        result = scan_home(self.home.root, patterns, exemptions)
        self.progress["byte_scan"] = describe_scan(result, patterns, exemptions)
        query = (
            f"raw bytes of {result.files} file(s), {result.bytes} bytes, and their paths "
            "(byte_scan)"
        )
        checks = [
            Check(
                "bytes: files outside the exempt ones holding the tenant's id, name, e-mail "
                "domain or addresses",
                query,
                len(result.findings),
            )
        ]
        checks += [
            Check(f"bytes: {f.path}: {f.kind} in its {f.where}", "raw byte scan", f.matches)
            for f in result.findings
        ]
        checks.append(Check("bytes: files that could not be read", query, len(result.unreadable)))
        return checks

    def lineage_left(self) -> int:
        """Files of the lineage that still hold the tenant's lines: not rewritten yet."""
        record = self.progress["landing"]
        left = 0
        for rel in record.get("lineage", {}):
            path = self.home.landing / rel
            done = record["rewritten"].get(rel, {}).get("sha256_after")
            if path.is_file() and (done is None or sha256_file(path) != done):
                left += 1
        return left

    def file_checks(self) -> list[Check]:
        owned = named = unreadable = 0
        for source, path in landing_candidates(self.home, self.tenant):
            try:
                _, removed, redacted = rewrite_landing_file(path, source, self.ids)
            except (OSError, ValueError, pa.ArrowException):
                unreadable += 1
                continue
            owned, named = owned + removed, named + redacted
        for _, path, read in self.vendor_files():
            try:
                _, _, redacted = rewrite_lines(path, read.format, set(), self.ids, read.records)
            except (OSError, ValueError, EOFError, pa.ArrowException):
                unreadable += 1
                continue
            named += redacted
        derived_owned = derived_named = derived_unreadable = 0
        for fmt, path in derived_files(self.home):
            try:
                _, removed, redacted = rewrite_file(path, fmt, self.ids)
            except (OSError, ValueError, pa.ArrowException):
                derived_unreadable += 1
                continue
            derived_owned, derived_named = derived_owned + removed, derived_named + redacted
        areas = ", ".join(f"{p.name}/" for p in derived_areas(self.home)) or "none"
        checks = [
            Check(f"derived files ({areas}): records of the tenant", "scan", derived_owned),
            Check(f"derived files ({areas}): records naming the tenant", "scan", derived_named),
            Check(f"derived files ({areas}): unreadable", "scan", derived_unreadable),
            Check(
                "derived files: partition folders of the tenant",
                "**/tenant_id=$tenant_id/",
                len(partition_folders(self.home, self.tenant)),
            ),
            Check(
                "landing: tenant's own delivery folders",
                "landing/*/tenants/$tenant_id/",
                len(declared_folders(self.home, self.tenant)),
            ),
            Check("landing: records of the tenant", "scan of every landing file", owned),
            Check(
                "landing: vendor files still holding the tenant's loaded lines",
                "lineage of the rows (file, line) of sources that do not name their tenant",
                self.lineage_left(),
            ),
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


def _without_tenant(value: Any, ids: Identifiers) -> Any:
    """A JSON value without the tenant: its entries (objects whose tenant_id it is) left out,
    its id and name redacted in every other string."""
    if isinstance(value, dict):
        return {k: _without_tenant(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [
            _without_tenant(v, ids)
            for v in value
            if not (isinstance(v, dict) and v.get("tenant_id") == ids.tenant_id)
        ]
    if isinstance(value, str):
        return ids.redact(value)
    return value


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
    own_run: str | None = None,
) -> DeletionResult:
    """Delete the tenant, prove it, and return the signed certificate (see the module doc).
    ``own_run``: the Dagster run executing the deletion, whose records name the tenant.

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
    run: _Deletion | None = None
    try:
        with (warehouse or (lambda: _default_warehouse(home)))() as con:
            ensure_schema(con)
            run = _Deletion(home, con, progress, log, forget_partitions, own_run)
            run.save()
            run.run()
        # The writer is closed; its file was replaced by the rewritten copy, held open
        # (read-only, locked against writers) since before the replacement.
        run.con = run.fresh
        checks, after = run.verify()
    finally:
        if run is not None and run.fresh is not None:
            run.fresh.close()
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
    contacts = progress.get("contacts") or {}
    progress["contacts"] = {k: len(v or ()) for k, v in contacts.items()}  # counts only
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
        "dagster_storage": progress.get("dagster_storage", {}),
        "warehouse_rewrite": progress.get("warehouse_rewrite", {}),
        "byte_scan": progress.get("byte_scan", {}),
        "verification": [c.as_dict() for c in checks],
        "verified": all(c.passed for c in checks),
    }
