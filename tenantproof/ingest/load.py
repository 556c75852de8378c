"""Landing files -> raw warehouse tables, with a file ledger and a quarantine.

Every non-blank line or row that is read ends in exactly one place: its raw table or the
quarantine, with the file, the line and a reason (DESIGN principle 6). The three counts of a file
are taken apart: rows read from the file itself, rows loaded from its raw table, rows quarantined
from the quarantine; a load whose counts do not add up is refused whole. A line that is not UTF-8
is quarantined, not the file; a file that is not text or that its reader cannot read, and a
symbolic link (never followed), are quarantined whole, each as one row read and quarantined
(tenantproof.ingest.landing). Fields a file carries that its source does not declare are named
in the ledger and the report, never dropped silently. A row without tenant context is never
given a default tenant ("No Tenant Context, No Write", spec §5.2). A file is identified by its
sha256, so a re-run or a re-delivered file loads nothing twice.

Files under ``landing/<source>/tenants/<tenant_id>/`` are declared for that tenant (delivered by
its own data plane): a row in them for any other tenant is a cross-tenant write and is refused.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from exports.contract import sha256_file
from tenantproof.core.policy import Policy
from tenantproof.core.sources import SOURCES, Source
from tenantproof.ingest.landing import (
    LandingScan,
    Refusal,
    link_refusal,
    not_text,
    scan_landing,
    unhashable_refusal,
    unlisted_refusal,
    unreadable,
)
from tenantproof.ingest.ledger import LEDGER
from tenantproof.ingest.parse import (
    PARSERS,
    Parsed,
    parsed_columns,
)
from tenantproof.ingest.route import check_and_route, quarantine_files, routed_counts

DECLARED_DIR = "tenants"


# Formats whose files must be text: one that is not is refused whole, not read line by line.
TEXT_FORMATS = ("csv", "jsonl")
# What a reader raises on a file it cannot read: the file is refused whole ...
READER_FAILURES = (duckdb.Error, csv.Error)
# ... unless the failure is not the file's (memory, an interrupt, I/O, DuckDB itself): then the
# load stops, and the next one reads the file again.
NOT_THE_FILE = (
    duckdb.OutOfMemoryException,
    duckdb.InterruptException,
    duckdb.IOException,
    duckdb.FatalException,
    duckdb.InternalException,
    duckdb.ConnectionException,
    duckdb.TransactionException,
)


class CountMismatch(RuntimeError):
    """Rows read from a file are not all in its raw table or the quarantine: a defect in ingest,
    not in the data. Nothing of the run is loaded, so the files load in full once it is fixed."""


@dataclass
class FileResult:
    path: str
    sha256: str
    status: str  # loaded | quarantined (refused whole) | already_loaded (in the ledger)
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    unexpected_fields: list[str] = field(default_factory=list)  # not declared: not loaded


@dataclass
class IngestReport:
    source: str
    files: list[FileResult] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files in the folder of no known format

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    def unexpected_fields(self) -> dict[str, list[str]]:
        """Per file loaded, the fields it carries that the source does not declare."""
        return {f.path: f.unexpected_fields for f in self.files if f.unexpected_fields}

    def warnings(self) -> list[str]:
        return [
            f"{path}: field(s) {', '.join(names)} not declared for {self.source}: not loaded"
            for path, names in self.unexpected_fields().items()
        ]

    def metadata(self) -> dict[str, int]:
        return {
            "files_seen": len(self.files),
            "files_loaded": sum(f.status == "loaded" for f in self.files),
            "files_quarantined": sum(f.status == "quarantined" for f in self.files),
            "files_already_loaded": sum(f.status == "already_loaded" for f in self.files),
            "files_ignored": len(self.ignored),
            "files_with_unexpected_fields": len(self.unexpected_fields()),
            "rows_read": self.read,
            "rows_loaded": self.loaded,
            "rows_quarantined": self.quarantined,
        }


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    for source in SOURCES.values():
        cols = ", ".join(f"{name} {typ}" for name, typ in source.columns.items())
        con.execute(
            f"create table if not exists {source.raw_table} ({cols}, _file varchar, "
            "_line bigint, _sha256 varchar, _loaded_at timestamp)"
        )
    con.execute(
        f"""create table if not exists {LEDGER} (
            source varchar, path varchar, sha256 varchar, rows_read bigint, rows_loaded bigint,
            rows_quarantined bigint, loaded_at timestamp, primary key (source, sha256))"""
    )
    # A JSON list of the fields a file carries that its source does not declare ([] for none;
    # null for files loaded before it was recorded).
    con.execute(f"alter table {LEDGER} add column if not exists unexpected_fields json")
    con.execute(
        """create table if not exists raw.quarantine (
            source varchar, file varchar, line bigint, field varchar, reason_code varchar,
            reason varchar,
            tenant_hint varchar, record varchar, quarantined_at timestamp)"""
    )
    # The registry's identifiers as the recogniser of tenant mentions matches them
    # (exports.contract.Recogniser), for the dbt scrub; rewritten with the registry.
    con.execute(
        "create table if not exists raw.tenant_identifiers (tenant_id varchar, identifier varchar, "
        "pattern varchar, first_word varchar, own_marked varchar)"
    )
    # Deleted tenants (tenantproof.erasure.deletion): later rows are quarantined, never loaded.
    con.execute(
        "create table if not exists raw.tenant_tombstones (tenant_id varchar primary key, "
        "deleted_at timestamp, reason varchar)"
    )


def landing_files(landing: Path, source: Source) -> tuple[list[Path], list[Path]]:
    """The source's files to read in a stable order, and the files of no format it reads.
    Symbolic links are in neither: they are never followed (tenantproof.ingest.landing)."""
    scan = scan_landing(landing, source)
    return scan.files, scan.ignored


def declared_tenant(landing: Path, source: Source, path: Path) -> str | None:
    parts = path.relative_to(landing / source.name).parts
    if len(parts) >= 3 and parts[0] == DECLARED_DIR:
        return parts[1]
    return None


@dataclass(frozen=True)
class _Candidate:
    """A landing file (or link, or folder that cannot be listed) and its ledger key: the sha256
    of its bytes, or what identifies it when it has none (tenantproof.ingest.landing)."""

    path: Path
    rel_path: str
    key: str
    refusal: Refusal | None = None


def _candidates(landing: Path, source: Source, scan: LandingScan) -> list[_Candidate]:
    out = []
    for folder, exc in scan.unlisted:
        key, refusal = unlisted_refusal(landing, folder, exc)
        out.append(_Candidate(folder, str(folder.relative_to(landing)), key, refusal))
    for link in scan.links:
        key, refusal = link_refusal(landing, source, link)
        out.append(_Candidate(link, str(link.relative_to(landing)), key, refusal))
    for path in scan.files:
        rel_path = str(path.relative_to(landing))
        try:
            out.append(_Candidate(path, rel_path, sha256_file(path)))
        except OSError as exc:
            key, refusal = unhashable_refusal(landing, path, exc)
            out.append(_Candidate(path, rel_path, key, refusal))
    return sorted(out, key=lambda c: c.path)


def ingest_source(
    con: duckdb.DuckDBPyConnection, landing: Path, source: Source, policy: Policy
) -> IngestReport:
    """Load every new file of one source in one pass and one transaction.

    A file refused whole (a symbolic link, a csv or jsonl file that is not text, a file its
    reader cannot read: tenantproof.ingest.landing) is one quarantine row and one ledger row
    that counts it as one row read and quarantined; the other files load, and later builds skip
    it until its bytes change. A reader failing for a reason outside the file (memory, an
    interrupt, I/O) stops the load instead, so the file is read again by the next one. If the
    rows read from a file are not all loaded or quarantined, nothing is loaded and CountMismatch
    names the file and its counts.
    """
    ensure_schema(con)
    report = IngestReport(source.name)
    scan = scan_landing(landing, source)
    report.ignored = [str(p.relative_to(landing)) for p in scan.ignored]
    new: list[_Candidate] = []
    for candidate in _candidates(landing, source, scan):
        seen = con.execute(
            f"select path from {LEDGER} where source = ? and sha256 = ?",
            [source.name, candidate.key],
        ).fetchone()
        if seen or any(candidate.key == c.key for c in new):
            report.files.append(FileResult(candidate.rel_path, candidate.key, "already_loaded"))
        else:
            new.append(candidate)
    if not new:
        return report
    # Parsing fills connection-local temp tables, one statement per file (a file that fails
    # leaves nothing); the load itself is one transaction.
    con.execute(f"create or replace temp table _parsed ({parsed_columns(source)})")
    con.execute(
        "create or replace temp table _files "
        "(seq integer, file varchar, sha256 varchar, declared varchar)"
    )
    parsed_files: list[tuple[str, str, Parsed]] = []
    refused: list[tuple[_Candidate, Refusal, str | None]] = []
    for seq, candidate in enumerate(new):
        declared = declared_tenant(landing, source, candidate.path)
        refusal = candidate.refusal
        if refusal is None and source.format in TEXT_FORMATS:
            refusal = not_text(candidate.path, source.format)
        if refusal is None:
            try:
                parsed = PARSERS[source.format](con, source, candidate.path, seq)
            except READER_FAILURES as exc:
                if isinstance(exc, NOT_THE_FILE):
                    raise
                con.execute("delete from _parsed where _seq = ?", [seq])
                refusal = unreadable(landing, candidate.path, source.format, exc)
        con.execute(
            "insert into _files values (?, ?, ?, ?)",
            [seq, candidate.rel_path, candidate.key, declared],
        )
        if refusal is None:
            parsed_files.append((candidate.rel_path, candidate.key, parsed))
        else:
            refused.append((candidate, refusal, declared))
    con.execute("begin transaction")
    try:
        check_and_route(con, source, policy)
        quarantine_files(
            con,
            source,
            [(c.rel_path, r.code, r.reason, declared, r.facts) for c, r, declared in refused],
        )
        loaded, quarantined = routed_counts(con, source)
        results = [
            FileResult(
                rel_path,
                sha,
                "loaded",
                parsed.read,
                loaded.get(sha, 0),
                quarantined.get(rel_path, 0),
                list(parsed.unexpected),
            )
            for rel_path, sha, parsed in parsed_files
        ] + [
            # a file refused whole counts as one row read, and quarantined
            FileResult(
                c.rel_path,
                c.key,
                "quarantined",
                1,
                loaded.get(c.key, 0),
                quarantined.get(c.rel_path, 0),
            )
            for c, _, _ in refused
        ]
        unbalanced = [r for r in results if r.read != r.loaded + r.quarantined]
        if unbalanced:
            raise CountMismatch(
                f"{source.name}: rows read do not add up to rows loaded + quarantined, so "
                "nothing was loaded: "
                + "; ".join(
                    f"{r.path}: read {r.read}, loaded {r.loaded}, quarantined {r.quarantined}"
                    for r in unbalanced
                )
            )
        for r in results:
            con.execute(
                f"""insert into {LEDGER} (source, path, sha256, rows_read, rows_loaded,
                    rows_quarantined, loaded_at, unexpected_fields)
                values (?, ?, ?, ?, ?, ?, now()::timestamp, ?)""",
                [
                    source.name,
                    r.path,
                    r.sha256,
                    r.read,
                    r.loaded,
                    r.quarantined,
                    json.dumps(r.unexpected_fields),
                ],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    report.files = sorted([*report.files, *results], key=lambda f: f.path)
    return report


def quarantine_counts(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, int]:
    """Quarantined rows of a source by reason code: counts only, no values."""
    return dict(
        con.execute(
            "select reason_code, count(*) from raw.quarantine where source = ? group by all "
            "order by 1",
            [source],
        ).fetchall()
    )
