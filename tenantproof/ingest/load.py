"""Landing files -> raw warehouse tables, with a file ledger and a quarantine.

Every non-blank line or row that is read ends in exactly one place: its raw table or the
quarantine, with the file, the line and a reason (DESIGN principle 6). The three counts of a file
are taken apart: rows read from the file itself, rows loaded from its raw table, rows quarantined
from the quarantine; a load whose counts do not add up is refused whole. A line that is not UTF-8
is quarantined, not the file. Fields a file carries that its source does not declare are named
in the ledger and the report, never dropped silently. A row without tenant context is never
given a default tenant ("No Tenant Context, No Write", spec §5.2). A file is identified by its
sha256, so a re-run or a re-delivered file loads nothing twice.

Files under ``landing/<source>/tenants/<tenant_id>/`` are declared for that tenant (delivered by
its own data plane): a row in them for any other tenant is a cross-tenant write and is refused.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from exports.contract import sha256_file
from tenantproof.core.files import replacing
from tenantproof.core.keys import LocalKeyStore
from tenantproof.core.policy import Policy
from tenantproof.core.sources import FORMAT_SUFFIXES, SOURCES, TENANTS, Attribution, Source
from tenantproof.core.warehouse import sql_literal as _q
from tenantproof.ingest.ledger import LEDGER

TENANT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
DECLARED_DIR = "tenants"


class IngestError(RuntimeError):
    """A whole landing file could not be read; the message names it."""


class CountMismatch(RuntimeError):
    """Rows read from a file are not all in its raw table or the quarantine: a defect in ingest,
    not in the data. Nothing of the run is loaded, so the files load in full once it is fixed."""


@dataclass
class FileResult:
    path: str
    sha256: str
    status: str  # loaded | already_loaded
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
            "files_already_loaded": sum(f.status == "already_loaded" for f in self.files),
            "files_ignored": len(self.ignored),
            "files_with_unexpected_fields": len(self.unexpected_fields()),
            "rows_read": self.read,
            "rows_loaded": self.loaded,
            "rows_quarantined": self.quarantined,
        }


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> tuple:
    """The first row of a query, fetched to the end: DuckDB refuses some calls on a connection
    (``register``) while a result is still open."""
    return con.execute(sql, params or []).fetchall()[0]


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
    con.execute(
        "create table if not exists raw.tenant_hash_keys (tenant_id varchar primary key, "
        "hash_key varchar)"
    )
    # Deleted tenants (tenantproof.erasure.deletion): later rows are quarantined, never loaded.
    con.execute(
        "create table if not exists raw.tenant_tombstones (tenant_id varchar primary key, "
        "deleted_at timestamp, reason varchar)"
    )


def landing_files(landing: Path, source: Source) -> tuple[list[Path], list[Path]]:
    """The source's files in a stable order, and the files of no format it reads."""
    folder = landing / source.name
    if not folder.exists():
        return [], []
    files, ignored = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue
        (files if path.name.endswith(FORMAT_SUFFIXES[source.format]) else ignored).append(path)
    return files, ignored


def declared_tenant(landing: Path, source: Source, path: Path) -> str | None:
    parts = path.relative_to(landing / source.name).parts
    if len(parts) >= 3 and parts[0] == DECLARED_DIR:
        return parts[1]
    return None


# -- parsing: every format becomes `_parsed(_line, _record, _parse_error, <columns as text>)` --
#
# A parser stages a file's rows and reports what it learnt from the file itself: how many rows
# it holds, counted apart from the rows staged, and the fields it carries that the source does
# not declare.


@dataclass(frozen=True)
class Parsed:
    read: int
    unexpected: tuple[str, ...] = ()


# A line that holds a row: blank lines are not rows (DuckDB's trim: spaces only).
NONBLANK = "line is not null and trim(line) <> ''"
# An aggregate over `_keyed` rows: the field names the source does not declare.
UNDECLARED = "list_distinct(flatten(list(distinct u) filter (where len(u) > 0)))"


def _parsed_columns(source: Source) -> str:
    cols = ", ".join(f"{name} varchar" for name in source.columns)
    return f"_seq integer, _line bigint, _record varchar, _parse_error varchar, {cols}"


def _lines(path: Path) -> str:
    """The file's physical lines, one text column `line`, in file order."""
    return (
        f"read_csv({_q(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, "
        "delim = chr(30), quote = '', escape = '', auto_detect = false)"
    )


def _undeclared(source: Source, names: list[str] | None) -> tuple[str, ...]:
    return tuple(sorted({n for n in names or () if n not in source.columns}))


def _keyed(source: Source, rel: str) -> str:
    """`rel` (with a `line` column) with `k`, the line's top-level field names (null when the
    line is not a JSON object: parsing them validates it), and `u`, those the source does not
    declare. Filtering per line is cheaper than collecting every line's names."""
    declared = "[" + ", ".join(_q(n) for n in source.columns) + "]"
    return f"""(select *, list_filter(k, lambda x: not list_contains({declared}, x)) as u
        from (select *, case when left(ltrim(line), 1) = '{{' then try(json_keys(line)) end as k
              from {rel}))"""


def _not_utf8(text: str) -> str | None:
    """Why a line read with ``surrogateescape`` is not UTF-8, or None when it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        at = len(text[: exc.start].encode("utf-8", "surrogateescape")) + 1
        return f"not UTF-8 at byte {at} (0x{ord(text[exc.start]) - 0xDC00:02x})"
    return None


def _printable(text: str) -> str:
    """Text read with ``surrogateescape``, its undecodable bytes written as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _text_lines(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """Each line of the file, numbered from 1, without its line end, with the reason it is not
    UTF-8 (None when it is). Bytes that do not decode are kept, so nothing is replaced."""
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.rstrip("\r\n")
            yield number, text, _not_utf8(text)


def _insert_json_lines(
    con: duckdb.DuckDBPyConnection, source: Source, seq: int, numbered: str
) -> None:
    """Parse `numbered(_line, line, _error)` line by line: a line that is not a JSON object, or
    carries an `_error`, is staged as malformed with its number and text."""
    types = {n: ("JSON" if n in source.json_columns else "VARCHAR") for n in source.columns}
    fields = ", ".join(f"s.{name}::varchar as {name}" for name in source.columns)
    con.execute(
        f"""insert into _parsed
        with parsed as (
            select _line, line, _error,
                   case when _error is null and left(ltrim(line), 1) = '{{'
                        then try(from_json(line, {_q(json.dumps(types))})) end as s
            from {numbered} where {NONBLANK}
        )
        select {seq}, _line, line,
               case when _error is not null then 'malformed line: ' || _error
                    when s is null then 'malformed line: not a JSON object' end, {fields}
        from parsed"""
    )


def _parse_jsonl(con: duckdb.DuckDBPyConnection, source: Source, path: Path, seq: int) -> Parsed:
    """A file whose every line is a JSON object goes through DuckDB's JSON reader (rows in file
    order, so the row number is the line); any other file is parsed line by line, so that a bad
    line is quarantined with its number and text and the rest still loads. Fields are read as
    text; typing comes after, per field, so a bad value names its field. One pass over the lines
    counts the rows, finds the irregular lines and the fields the source does not declare."""
    lines = _lines(path)
    try:
        read, irregular, keys = _one(
            con,
            f"""select count(*), count(*) filter (where k is null), {UNDECLARED}
            from {_keyed(source, lines)}""",
        )
    except duckdb.Error:
        # DuckDB's reader refuses a whole file for one line that is not UTF-8.
        return _parse_jsonl_text(con, source, path, seq)
    if irregular == 0:
        types = {n: ("JSON" if n in source.json_columns else "VARCHAR") for n in source.columns}
        columns = "{" + ", ".join(f"{_q(n)}: {_q(t)}" for n, t in types.items()) + "}"
        fields = ", ".join(f"{name}::varchar" for name in source.columns)
        con.execute(
            f"""insert into _parsed
            select {seq}, row_number() over (), null, null, {fields}
            from read_json({_q(str(path))}, format = 'newline_delimited',
                           columns = {columns})"""
        )
    else:
        read = _one(con, f"select count(*) from {lines} where {NONBLANK}")[0]
        _insert_json_lines(
            con,
            source,
            seq,
            f"(select row_number() over () as _line, line, null::varchar as _error from {lines})",
        )
    return Parsed(read, _undeclared(source, keys))


def _parse_jsonl_text(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, seq: int
) -> Parsed:
    """A JSONL file with lines that are not UTF-8: those lines are quarantined, the rest load."""
    numbers: list[int] = []
    texts: list[str] = []
    errors: list[str | None] = []
    for number, text, error in _text_lines(path):
        if error is None and text.strip(" ") == "":
            continue
        numbers.append(number)
        texts.append(text if error is None else _printable(text))
        errors.append(error)
    table = pa.table(
        {
            "_line": pa.array(numbers, type=pa.int64()),
            "line": pa.array(texts, type=pa.string()),
            "_error": pa.array(errors, type=pa.string()),
        }
    )
    con.register("_text_lines", table)
    try:
        keys = _one(
            con,
            f"select {UNDECLARED} "
            f"from {_keyed(source, '(select line from _text_lines where _error is null)')}",
        )[0]
        _insert_json_lines(con, source, seq, "_text_lines")
    finally:
        con.unregister("_text_lines")
    return Parsed(len(numbers), _undeclared(source, keys))


def _regular_csv_records(con: duckdb.DuckDBPyConnection, source: Source, path: Path) -> int | None:
    """The number of records when DuckDB's CSV reader can load the file with exact line numbers:
    the file is UTF-8, the header is the source's columns, every record parses, and records and
    physical lines are one to one (no blank lines, no quoted line breaks). None otherwise."""
    try:
        lines, blank = _one(
            con, f"select count(*), count(*) filter (where not ({NONBLANK})) from {_lines(path)}"
        )
        if blank:
            return None
        header = [
            r[0]
            for r in con.execute(
                f"describe select * from read_csv({_q(str(path))}, header = true, "
                "all_varchar = true, strict_mode = true)"
            ).fetchall()
        ]
        if sorted(header) != sorted(source.columns):
            return None
        records = _one(
            con,
            f"select count(*) from read_csv({_q(str(path))}, header = true, all_varchar = true, "
            "strict_mode = true)",
        )[0]
    except duckdb.Error:
        return None
    return records if records + 1 == lines else None


def _parse_csv(con: duckdb.DuckDBPyConnection, source: Source, path: Path, seq: int) -> Parsed:
    """A regular file goes through DuckDB's CSV reader; any other is read record by record, so a
    bad line is quarantined with its number and text and the rest still loads."""
    records = _regular_csv_records(con, source, path)
    if records is not None:
        fields = ", ".join(f"nullif({name}, '')" for name in source.columns)
        con.execute(
            f"""insert into _parsed
            select {seq}, row_number() over () + 1, null, null, {fields}
            from read_csv({_q(str(path))}, header = true, all_varchar = true,
                          strict_mode = true)"""
        )
        return Parsed(records)
    names = list(source.columns)
    not_utf8 = {number: error for number, _, error in _text_lines(path) if error}
    data: dict[str, list[object]] = {n: [] for n in ["_line", "_record", "_parse_error", *names]}
    read = 0
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        missing = [n for n in names if n not in header]
        unexpected = [_printable(h) for h in header if h not in source.columns]
        header_error = None
        if 1 in not_utf8:
            header_error = f"file header is {not_utf8[1]}"
        elif missing:
            header_error = f"file header lacks column(s) {', '.join(missing)}"
        elif unexpected:
            header_error = f"file header has unknown column(s) {', '.join(unexpected)}"
        index = {h: i for i, h in enumerate(header)}
        last = reader.line_num
        for row in reader:
            first, last = last + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line; a line of delimiters is a record (of empty fields)
            read += 1
            error = header_error
            bad = [n for n in range(first, last + 1) if n in not_utf8] if not_utf8 else []
            if bad:
                where = "" if bad[0] == last else f"line {bad[0]} is "
                error = f"malformed line: {where}{not_utf8[bad[0]]}"
                row = [_printable(cell) for cell in row]
            elif error is None and len(row) != len(header):
                error = f"malformed line: expected {len(header)} fields, found {len(row)}"
            data["_line"].append(last)
            data["_record"].append(json.dumps(row))
            data["_parse_error"].append(error)
            for name in names:
                value = row[index[name]] if error is None else None
                data[name].append(value if value not in ("", None) else None)
    table = pa.table(
        {k: pa.array(v, type=pa.int64() if k == "_line" else pa.string()) for k, v in data.items()}
    )
    con.register("_csv_rows", table)
    try:
        con.execute(f"insert into _parsed select {seq}, * from _csv_rows")
    finally:
        con.unregister("_csv_rows")
    return Parsed(read, tuple(sorted(set(unexpected))))


def _parse_parquet(con: duckdb.DuckDBPyConnection, source: Source, path: Path, seq: int) -> Parsed:
    """Rows read is the file's own row count (its footer), apart from the rows scanned."""
    file = _q(str(path))
    present = [r[0] for r in con.execute(f"describe select * from read_parquet({file})").fetchall()]
    cols = [
        (f"{name}::varchar as {name}" if name in present else f"null::varchar as {name}")
        for name in source.columns
    ]
    missing = [n for n in source.columns if n not in present]
    error = _q(f"file lacks column(s) {', '.join(missing)}") if missing else "null"
    read = _one(con, f"select num_rows from parquet_file_metadata({file})")[0]
    con.execute(
        f"""insert into _parsed
        select {seq}, file_row_number + 1, to_json(p)::varchar, {error}::varchar,
               {", ".join(cols)}
        from read_parquet({file}, file_row_number = true) p"""
    )
    return Parsed(int(read), _undeclared(source, present))


PARSERS = {"jsonl": _parse_jsonl, "csv": _parse_csv, "parquet": _parse_parquet}


# -- checking: one CASE picks the first reason a row cannot be loaded --


def _typed(name: str, typ: str) -> str:
    if typ == "TIMESTAMP":
        return f"(try_cast({name} as timestamptz) at time zone 'UTC')"
    if typ == "VARCHAR":
        return name
    return f"try_cast({name} as {typ})"


def _checks(source: Source, policy: Policy) -> list[tuple[str, str, str, str]]:
    """(condition, field, reason SQL, reason code) in the order they are tried."""
    checks: list[tuple[str, str, str, str]] = [
        ("_parse_error is not null", "''", "_parse_error", "malformed")
    ]
    for name in source.required:
        checks.append(
            (
                f"{name} is null",
                _q(name),
                _q(f"missing required field {name}"),
                "missing_field",
            )
        )
    for name, typ in source.columns.items():
        if typ != "VARCHAR":
            checks.append(
                (
                    f"{name} is not null and {_typed(name, typ)} is null",
                    _q(name),
                    f"'field {name}: cannot read ' || left({name}, 60) || ' as {typ.lower()}'",
                    "type_error",
                )
            )
    deleted = (
        "tenant_id in (select tenant_id from raw.tenant_tombstones)",
        "'tenant_id'",
        "'tenant ' || tenant_id || ' was deleted (offboarded): its rows are not loaded'",
        "tenant_deleted",
    )
    if source.attribution is Attribution.REGISTRY:
        classes = ", ".join(_q(c) for c in policy.classes)
        regions = " ".join(
            f"when {_q(c)} then {[*sorted(policy.allowed_regions(c))]!r}" for c in policy.classes
        )
        checks += [
            (
                f"not regexp_full_match(tenant_id, {_q(TENANT_ID_PATTERN)})",
                "'tenant_id'",
                "'field tenant_id: ' || tenant_id || ' is not a valid tenant id'",
                "invalid_tenant_id",
            ),
            (
                f"tenant_class not in ({classes})",
                "'tenant_class'",
                "'field tenant_class: unknown class ' || tenant_class || "
                "' (not in seeds/tenant_class_policies.csv)'",
                "unknown_class",
            ),
            (
                f"not list_contains(case tenant_class {regions} end, residency_region)",
                "'residency_region'",
                "'field residency_region: ' || residency_region || "
                "' is not allowed for class ' || tenant_class",
                "region_not_allowed",
            ),
            deleted,
        ]
    else:
        rule = "(No Tenant Context, No Write)"
        if source.attribution is Attribution.TENANT:
            no_context = f"no tenant context: tenant_id is empty {rule}"
            checks.append(("tenant_id is null", "'tenant_id'", _q(no_context), "no_tenant_context"))
        else:
            checks += [
                (
                    "tenant_id is null and global_scope is null",
                    "'tenant_id'",
                    _q(f"no tenant context: neither tenant_id nor global_scope {rule}"),
                    "no_tenant_context",
                ),
                (
                    "tenant_id is not null and global_scope is not null",
                    "'global_scope'",
                    _q("ambiguous attribution: both tenant_id and global_scope are set"),
                    "ambiguous_attribution",
                ),
                (
                    "global_scope is not null and coalesce(trim(scope_justification), '') = ''",
                    "'scope_justification'",
                    _q("global_scope without scope_justification (empty or blank)"),
                    "global_without_justification",
                ),
            ]
        checks.append(
            (
                "_declared is not null and tenant_id is distinct from _declared",
                "'tenant_id'",
                "'cross-tenant write: file declared for tenant ' || _declared || "
                "' holds a row for ' || coalesce('tenant ' || tenant_id, 'global scope')",
                "cross_tenant_write",
            )
        )
        checks.append(deleted)
        checks.append(
            (
                "tenant_id is not null and _known_tenant is null",
                "'tenant_id'",
                "'unknown tenant ' || tenant_id || ' (not in the tenant registry)'",
                "unknown_tenant",
            )
        )
    key = source.key
    checks += [
        (
            "_first_seq is not null and _first_seq = _seq and _first_line <> _line",
            _q(key),
            f"'duplicate {key} ' || {key} || ' within the file (first at line ' || _first_line "
            "|| ')'",
            "duplicate_in_file",
        ),
        (
            "_first_seq is not null and (_first_seq <> _seq or _first_line <> _line)",
            _q(key),
            f"'duplicate {key} ' || {key} || ' (first in ' || _first_file || ' line ' || "
            "_first_line || ')'",
            "duplicate_in_delivery",
        ),
        (
            "_prior_file is not null",
            _q(key),
            f"'duplicate {key} ' || {key} || ': already loaded from ' || _prior_file",
            "duplicate_already_loaded",
        ),
    ]
    return checks


def _check_and_route(con: duckdb.DuckDBPyConnection, source: Source, policy: Policy) -> None:
    """Load the good rows of `_parsed`, quarantine the rest."""
    checks = _checks(source, policy)
    reason = "case " + " ".join(f"when {c} then {r}" for c, _, r, _ in checks) + " end"
    fieldname = "case " + " ".join(f"when {c} then {f}" for c, f, _, _ in checks) + " end"
    code = "case " + " ".join(f"when {c} then {_q(k)}" for c, _, _, k in checks) + " end"
    key = source.key
    registry = source.attribution is Attribution.REGISTRY
    known_col = "null::varchar" if registry else "_known.tenant_id"
    known_join = (
        "" if registry else "left join raw.tenants _known on _known.tenant_id = p.tenant_id"
    )
    prior_col = "null::varchar" if registry else "_prior._file"
    prior_join = (
        ""
        if registry
        else f"left join (select {key}, any_value(_file) as _file from {source.raw_table} "
        f"where {key} in (select {key} from _parsed) group by {key}) _prior "
        f"on _prior.{key} = p.{key}"
    )
    # Repeated keys are rare: find them by aggregation, not by a window over every row.
    con.execute(
        f"""create or replace temp table _dups as
        select {key}, min({{'s': _seq, 'l': _line}}) as first
        from _parsed where {key} is not null group by {key} having count(*) > 1"""
    )
    con.execute(
        f"""create or replace temp table _checked as
        select *, {reason} as _reason, {fieldname} as _field, {code} as _code
        from (
            select p.*, f.file as _file, f.declared as _declared, {prior_col} as _prior_file,
                   {known_col} as _known_tenant,
                   d.first.s as _first_seq, d.first.l as _first_line, ff.file as _first_file
            from _parsed p join _files f on f.seq = p._seq
            left join _dups d on d.{key} = p.{key}
            left join _files ff on ff.seq = d.first.s
            {known_join} {prior_join}
        ) x"""
    )
    typed_cols = ", ".join(f"{_typed(n, t)} as {n}" for n, t in source.columns.items())
    if registry:
        con.execute(
            f"delete from {source.raw_table} where tenant_id in "
            "(select tenant_id from _checked where _reason is null)"
        )
    con.execute(
        f"""insert into {source.raw_table}
        select {typed_cols}, c._file, c._line, f.sha256, now()::timestamp
        from _checked c join _files f on f.seq = c._seq where c._reason is null"""
    )
    hint = "tenant_id" if "tenant_id" in source.columns else "null"
    fields = ", ".join(f"{_q(n)}: {n}" for n in source.columns)
    con.execute(
        f"""insert into raw.quarantine
        select {_q(source.name)}, _file, _line, nullif(_field, ''), _code, _reason,
               {hint}, coalesce(_record, to_json({{{fields}}})::varchar), now()::timestamp
        from _checked where _reason is not null"""
    )


def _routed_counts(
    con: duckdb.DuckDBPyConnection, source: Source
) -> tuple[dict[str, int], dict[str, int]]:
    """Rows this load wrote, counted where they landed: per sha256 in the raw table, per file in
    the quarantine (both stamped with the transaction's time, so earlier loads do not count)."""
    loaded = con.execute(
        f"""select _sha256, count(*) from {source.raw_table}
        where _loaded_at = now()::timestamp and _sha256 in (select sha256 from _files)
        group by all"""
    ).fetchall()
    quarantined = con.execute(
        """select file, count(*) from raw.quarantine
        where source = ? and quarantined_at = now()::timestamp
          and file in (select file from _files)
        group by all""",
        [source.name],
    ).fetchall()
    return dict(loaded), dict(quarantined)


def ingest_source(
    con: duckdb.DuckDBPyConnection, landing: Path, source: Source, policy: Policy
) -> IngestReport:
    """Load every new file of one source in one pass and one transaction.

    A file that cannot be read at all (such as a file that is not Parquet) is left out and named
    in the IngestError raised after the others are loaded; it stays in landing and loads once
    fixed. If the rows read from a file are not all loaded or quarantined, nothing is loaded and
    CountMismatch names the file and its counts.
    """
    ensure_schema(con)
    report = IngestReport(source.name)
    files, ignored = landing_files(landing, source)
    report.ignored = [str(p.relative_to(landing)) for p in ignored]
    new: list[tuple[Path, str, str]] = []
    for path in files:
        rel_path = str(path.relative_to(landing))
        sha = sha256_file(path)
        seen = con.execute(
            f"select path from {LEDGER} where source = ? and sha256 = ?",
            [source.name, sha],
        ).fetchone()
        if seen or any(sha == s for _, _, s in new):
            report.files.append(FileResult(rel_path, sha, "already_loaded"))
        else:
            new.append((path, rel_path, sha))
    if not new:
        return report
    unreadable: list[str] = []
    # Parsing fills connection-local temp tables, one statement per file (a file that fails
    # leaves nothing); the load itself is one transaction.
    con.execute(f"create or replace temp table _parsed ({_parsed_columns(source)})")
    con.execute(
        "create or replace temp table _files "
        "(seq integer, file varchar, sha256 varchar, declared varchar)"
    )
    parsed_files: list[tuple[str, str, Parsed]] = []
    for seq, (path, rel_path, sha) in enumerate(new):
        try:
            parsed = PARSERS[source.format](con, source, path, seq)
        except duckdb.Error as exc:
            unreadable.append(f"{rel_path}: cannot be read as {source.format} ({exc})")
            continue
        con.execute(
            "insert into _files values (?, ?, ?, ?)",
            [seq, rel_path, sha, declared_tenant(landing, source, path)],
        )
        parsed_files.append((rel_path, sha, parsed))
    con.execute("begin transaction")
    try:
        _check_and_route(con, source, policy)
        loaded, quarantined = _routed_counts(con, source)
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
                + "".join(f"; also {u}" for u in unreadable)
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
    if unreadable:
        raise IngestError(
            "; ".join(unreadable)
            + ". Nothing of these files was loaded; they stay in landing and load once fixed."
        )
    return report


def sync_hash_keys(con: duckdb.DuckDBPyConnection, store: LocalKeyStore) -> int:
    """Give every registered tenant a hashing key and mirror the keys into the warehouse."""
    tenant_ids = [r[0] for r in con.execute("select tenant_id from raw.tenants").fetchall()]
    keys = store.ensure(tenant_ids)
    rows = [(t, keys[t]) for t in tenant_ids]
    con.execute("delete from raw.tenant_hash_keys")
    if rows:
        con.executemany("insert into raw.tenant_hash_keys values (?, ?)", rows)
    return len(rows)


def publish_registry(con: duckdb.DuckDBPyConnection, target: Path) -> None:
    """Write the registry as Parquet for readers (sensors, dashboards) that must not lock the
    warehouse file (DESIGN principle 7)."""
    cols = ", ".join(TENANTS.columns)
    with replacing(target) as tmp:
        con.execute(
            f"copy (select {cols} from raw.tenants order by tenant_id) to {_q(str(tmp))} "
            "(format parquet)"
        )


def quarantine_counts(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, int]:
    """Quarantined rows of a source by reason code: counts only, no values."""
    return dict(
        con.execute(
            "select reason_code, count(*) from raw.quarantine where source = ? group by all "
            "order by 1",
            [source],
        ).fetchall()
    )
