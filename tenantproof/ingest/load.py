"""Landing files -> raw warehouse tables, with a file ledger and a quarantine.

Every non-blank line or row that is read ends in exactly one place: its raw table or the
quarantine, with the file, the line and a reason (DESIGN principle 6). The three counts of a file
are taken apart: rows read from the file itself, rows loaded from its raw table, rows quarantined
from the quarantine; a load whose counts do not add up is refused whole. A line that is not UTF-8
is quarantined, not the file; a file that is not text or that its reader cannot read, and a
symbolic link (never followed), are quarantined whole, each as one row read and quarantined
(tenantproof.ingest.landing). Fields a file carries that its mapping does not read are kept
on the row (``_unmapped``) and named in the ledger and the report, never dropped silently. A
row without tenant context is never given a default tenant ("No Tenant Context, No Write",
spec §5.2). A file is identified by its sha256, so a re-run or a re-delivered file loads
nothing twice.

Files under ``landing/<folder>/tenants/<tenant_id>/`` are declared for that tenant (delivered by
its own data plane): a row in them for any other tenant is a cross-tenant write and is refused.
"""

from __future__ import annotations

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
    gzip_broken,
    link_refusal,
    not_text,
    scan_landing,
    unhashable_refusal,
    unlisted_refusal,
    unreadable,
)
from tenantproof.ingest.ledger import LEDGER
from tenantproof.ingest.mapping import Mapping, load_mappings, mapping_for
from tenantproof.ingest.parse import (
    NOT_THE_FILE,
    PARSERS,
    READER_FAILURES,
    Parsed,
    parsed_columns,
)
from tenantproof.ingest.route import check_and_route, quarantine_files, routed_counts

DECLARED_DIR = "tenants"


# Formats whose files must be text: one that is not is refused whole, not read line by line.
TEXT_FORMATS = ("csv", "jsonl", "json")


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
    source: str  # the mapping's name
    entity: str = ""
    files: list[FileResult] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # in its folders, of no read it declares
    contested: list[str] = field(default_factory=list)  # another mapping reads them too

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
        """Per file loaded, the fields it carries that no expression of the mapping reads."""
        return {f.path: f.unexpected_fields for f in self.files if f.unexpected_fields}

    def warnings(self) -> list[str]:
        out = [
            f"{path}: field(s) {', '.join(names)} not mapped by {self.source}: kept as JSON in "
            f"raw.{self.entity or self.source}._unmapped"
            for path, names in self.unexpected_fields().items()
        ]
        out += [f"{entry}: not read" for entry in self.contested]
        return out

    def metadata(self) -> dict[str, int]:
        return {
            "files_seen": len(self.files),
            "files_loaded": sum(f.status == "loaded" for f in self.files),
            "files_quarantined": sum(f.status == "quarantined" for f in self.files),
            "files_already_loaded": sum(f.status == "already_loaded" for f in self.files),
            "files_ignored": len(self.ignored),
            "files_contested": len(self.contested),
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
        # Lineage (docs/SOURCES.md): the mapping that loaded the row and its version, the hash
        # of the record as delivered, and what no expression of the mapping reads (JSON).
        for column, typ in LINEAGE_COLUMNS.items():
            con.execute(f"alter table {source.raw_table} add column if not exists {column} {typ}")
    con.execute(
        f"""create table if not exists {LEDGER} (
            source varchar, path varchar, sha256 varchar, rows_read bigint, rows_loaded bigint,
            rows_quarantined bigint, loaded_at timestamp, primary key (source, sha256))"""
    )
    # A JSON list of the fields a file carries that its source does not declare ([] for none;
    # null for files loaded before it was recorded).
    con.execute(f"alter table {LEDGER} add column if not exists unexpected_fields json")
    # The entity a ledger row's source (its mapping) loads into (null: written before mappings,
    # when the source was the entity).
    con.execute(f"alter table {LEDGER} add column if not exists entity varchar")
    con.execute(
        """create table if not exists raw.quarantine (
            source varchar, file varchar, line bigint, field varchar, reason_code varchar,
            reason varchar,
            tenant_hint varchar, record varchar, quarantined_at timestamp)"""
    )
    con.execute("alter table raw.quarantine add column if not exists entity varchar")
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


LINEAGE_COLUMNS = {
    "_source": "varchar",
    "_source_version": "integer",
    "_record_sha256": "varchar",
    "_unmapped": "json",
}


def native_mapping(source: Source | Mapping, mappings: list[Mapping] | None = None) -> Mapping:
    """A mapping as given, or the shipped mapping of an entity (its own landing format)."""
    if isinstance(source, Mapping):
        return source
    return mapping_for(mappings if mappings is not None else load_mappings(None), source.name)


def landing_files(
    landing: Path, source: Source | Mapping, mappings: list[Mapping] | None = None
) -> tuple[list[Path], list[Path]]:
    """The source's files to read in a stable order, and the files of no format it reads.
    Symbolic links are in neither: they are never followed (tenantproof.ingest.landing)."""
    mapping = native_mapping(source, mappings)
    scan = scan_landing(landing, mapping, mappings or ())
    return scan.files, scan.ignored


def declared_tenant(landing: Path, path: Path) -> str | None:
    """The tenant a file was delivered for: ``<folder>/tenants/<tenant_id>/...``."""
    parts = path.relative_to(landing).parts
    if len(parts) >= 4 and parts[1] == DECLARED_DIR:
        return parts[2]
    return None


@dataclass(frozen=True)
class _Candidate:
    """A landing file (or link, or folder that cannot be listed) and its ledger key: the sha256
    of its bytes, or what identifies it when it has none (tenantproof.ingest.landing)."""

    path: Path
    rel_path: str
    key: str
    refusal: Refusal | None = None


def _candidates(landing: Path, scan: LandingScan) -> list[_Candidate]:
    out = []
    for folder, exc in scan.unlisted:
        key, refusal = unlisted_refusal(landing, folder, exc)
        out.append(_Candidate(folder, str(folder.relative_to(landing)), key, refusal))
    for link in scan.links:
        key, refusal = link_refusal(landing, link)
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
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    source: Source | Mapping,
    policy: Policy,
    mappings: list[Mapping] | None = None,
) -> IngestReport:
    """Load every new file of one source mapping (an entity: its shipped mapping) in one pass
    and one transaction. ``mappings``: all of them, so a file two mappings read is read by
    neither.

    A file refused whole (a symbolic link, a csv or jsonl file that is not text, a file its
    reader cannot read: tenantproof.ingest.landing) is one quarantine row and one ledger row
    that counts it as one row read and quarantined; the other files load, and later builds skip
    it until its bytes change. A reader failing for a reason outside the file (memory, an
    interrupt, I/O) stops the load instead, so the file is read again by the next one. If the
    rows read from a file are not all loaded or quarantined, nothing is loaded and CountMismatch
    names the file and its counts.
    """
    mapping = native_mapping(source, mappings)
    ensure_schema(con)
    report = IngestReport(mapping.name, mapping.entity.name)
    scan = scan_landing(landing, mapping, mappings or ())
    report.ignored = [str(p.relative_to(landing)) for p in scan.ignored]
    report.contested = [
        f"{p.relative_to(landing)}: read by {mapping.name} and {other}"
        for p, other in scan.contested
    ]
    new: list[_Candidate] = []
    for candidate in _candidates(landing, scan):
        seen = con.execute(
            f"select path from {LEDGER} where source = ? and sha256 = ?",
            [mapping.name, candidate.key],
        ).fetchone()
        if seen or any(candidate.key == c.key for c in new):
            report.files.append(FileResult(candidate.rel_path, candidate.key, "already_loaded"))
        else:
            new.append(candidate)
    if not new:
        return report
    # Parsing fills connection-local temp tables, one statement per file (a file that fails
    # leaves nothing); the load itself is one transaction.
    con.execute(f"create or replace temp table _parsed ({parsed_columns(mapping)})")
    con.execute(
        "create or replace temp table _files "
        "(seq integer, file varchar, sha256 varchar, declared varchar)"
    )
    parsed_files: list[tuple[str, str, Parsed]] = []
    refused: list[tuple[_Candidate, Refusal, str | None]] = []
    for seq, candidate in enumerate(new):
        declared = declared_tenant(landing, candidate.path)
        refusal = candidate.refusal
        read = mapping.read_for(candidate.path.relative_to(landing).as_posix())
        fmt = read.format if read else mapping.entity.format
        if refusal is None and fmt in TEXT_FORMATS:
            refusal = not_text(candidate.path, fmt)
        if refusal is None and read is not None:
            try:
                parsed = PARSERS[fmt](con, mapping, read, candidate.path, seq, declared)
            except READER_FAILURES as exc:
                if isinstance(exc, NOT_THE_FILE) and not gzip_broken(candidate.path):
                    raise
                con.execute("delete from _parsed where _seq = ?", [seq])
                refusal = unreadable(landing, candidate.path, fmt, exc)
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
        check_and_route(con, mapping, policy)
        quarantine_files(
            con,
            mapping,
            [(c.rel_path, r.code, r.reason, declared, r.facts) for c, r, declared in refused],
        )
        loaded, quarantined = routed_counts(con, mapping)
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
                f"{mapping.name}: rows read do not add up to rows loaded + quarantined, so "
                "nothing was loaded: "
                + "; ".join(
                    f"{r.path}: read {r.read}, loaded {r.loaded}, quarantined {r.quarantined}"
                    for r in unbalanced
                )
            )
        for r in results:
            con.execute(
                f"""insert into {LEDGER} (source, path, sha256, rows_read, rows_loaded,
                    rows_quarantined, loaded_at, unexpected_fields, entity)
                values (?, ?, ?, ?, ?, ?, now()::timestamp, ?, ?)""",
                [
                    mapping.name,
                    r.path,
                    r.sha256,
                    r.read,
                    r.loaded,
                    r.quarantined,
                    json.dumps(r.unexpected_fields),
                    mapping.entity.name,
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
