"""Reading landing files through their mapping: every file becomes rows of one temporary
relation, ``_parsed(_seq, _line, _record, _parse_error, <entity columns as text>, _tenant_key,
_lookup_hit, _record_sha256, _unmapped)``, a row per non-blank line or record read, so that
checking and routing are the same for every source and format. A line that is not UTF-8 or not
a record of the format is kept with its parse error, never dropped.

Each format gives a relation of records (``_line``, ``_text``, ``_error``, ``_ok``, and for CSV
and Parquet the file's columns) which the compiled mapping (``tenantproof.ingest.compile``)
turns into the entity's columns in the same query:

- JSON Lines: DuckDB's reader (``read_ndjson_objects``) when every physical line is a record, so
  the row number is the line; otherwise (blank lines, lines that are not JSON or not UTF-8) the
  lines are read as text and judged one by one.
- a JSON document (``{"Records": [...]}``, or an array): its records, numbered from 1.
- CSV: DuckDB's reader when records and physical lines are one to one and every record parses;
  otherwise Python's csv module, record by record.
- Parquet: the file's rows (its footer gives the count).

A ``.gz`` file is read through gzip.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import duckdb
import pyarrow as pa

from tenantproof.core.warehouse import sql_literal as _q
from tenantproof.ingest.compile import FileShape, compile_mapping, ident, jsonpath
from tenantproof.ingest.landing import open_delivered
from tenantproof.ingest.mapping import Mapping, Read, parse_path

LOOKUP = "raw.tenant_source_accounts"
# The largest JSON object DuckDB's reader takes at once (a line of JSON Lines; a whole JSON
# document): a bigger line is read as text instead, a bigger document is refused as unreadable.
MAX_OBJECT_BYTES = 256 * 1024 * 1024
BLOCK = 1024 * 1024


def query_one(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> tuple:
    """The first row of a query, fetched to the end: DuckDB refuses some calls on a connection
    (``register``) while a result is still open."""
    return con.execute(sql, params or []).fetchall()[0]


@dataclass(frozen=True)
class Parsed:
    read: int
    unexpected: tuple[str, ...] = ()  # fields no expression reads: kept in _unmapped


class NotRecords(ValueError):
    """A JSON document without its records array: the file is refused whole."""


# A line that holds a row: blank lines are not rows (DuckDB's trim: spaces only).
NONBLANK = "line is not null and trim(line) <> ''"


def parsed_columns(mapping: Mapping) -> str:
    cols = ", ".join(f"{name} varchar" for name in mapping.entity.columns)
    return (
        f"_seq integer, _line bigint, _record varchar, _parse_error varchar, {cols}, "
        "_tenant_key varchar, _lookup_hit boolean, _record_sha256 varchar, _unmapped varchar"
    )


def head_bytes(path: Path, size: int) -> bytes:
    """The file's first bytes (decompressed for a .gz file)."""
    with open_delivered(path) as fh:
        return fh.read(size)


def _physical_lines(path: Path) -> int:
    """Lines in the file, a last line without its line feed included."""
    count = 0
    last = b"\n"
    with open_delivered(path) as fh:
        while block := fh.read(BLOCK):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


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


def _text(path: Path) -> IO[str]:
    return io.TextIOWrapper(
        open_delivered(path), encoding="utf-8", errors="surrogateescape", newline=""
    )


def _text_lines(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """Each line of the file, numbered from 1, without its line end, with the reason it is not
    UTF-8 (None when it is). Bytes that do not decode are kept, so nothing is replaced."""
    with _text(path) as fh:
        for number, line in enumerate(fh, start=1):
            text = line.rstrip("\r\n")
            yield number, text, _not_utf8(text)


# -- the one query: records -> the entity's columns --


def _insert(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    shape: FileShape,
    relation: str,
    seq: int,
    declared: str | None,
    parse_error: str,
) -> set[str]:
    """Insert the mapped rows of ``relation`` (``_line, _text, _error, _ok`` and, for columns,
    the file's columns) into ``_parsed``; returns the fields the mapping reads."""
    compiled = compile_mapping(mapping, shape)
    entity = mapping.entity
    mode = mapping.attribution_mode
    error = parse_error
    values = dict(compiled.columns)
    join = ""
    lookup_hit = "null::boolean"
    if mode == "lookup":
        join = (
            "left join (select lookup, source_key, tenant_id, global_scope, scope_justification "
            f"from {LOOKUP} where lookup = {_q(mapping.tenant['lookup'])} "
            "qualify row_number() over (partition by source_key order by entry_id) = 1) a "
            "on a.source_key = m._tenant_key"
        )
        lookup_hit = "a.lookup is not null"
    outer: list[str] = []
    for name in entity.columns:
        if mode == "lookup" and name in ("tenant_id", "global_scope", "scope_justification"):
            outer.append(f"a.{name}")
        elif mode == "delivery_folder" and name == "tenant_id":
            outer.append(_q(declared) if declared else "null::varchar")
        elif mode == "global_scope" and name == "global_scope":
            outer.append(_q(mapping.tenant["global_scope"]))
        elif mode == "global_scope" and name == "scope_justification":
            outer.append(_q(mapping.tenant["justification"]))
        elif name in values:
            outer.append(f"case when m._perr is null then m.{ident('c_' + name)} end")
        else:
            outer.append("null::varchar")
    inner = ", ".join(f"{sql} as {ident('c_' + name)}" for name, sql in values.items())
    extract = "".join(f", {x}" for x in compiled.extract)
    con.execute(
        f"""insert into _parsed
        select {seq}, m._line, case when m._perr is not null then m._text end, m._perr,
               {", ".join(outer)},
               case when m._perr is null then m._tenant_key end, {lookup_hit},
               m._record_sha256, case when m._perr is null then m._unmapped end
        from (
            select r._line, r._text, {error} as _perr{", " + inner if inner else ""},
                   {compiled.tenant_key or "null::varchar"} as _tenant_key,
                   sha256(r._text) as _record_sha256, {compiled.unmapped} as _unmapped
            from (select *{extract} from {relation}) r
        ) m {join}"""
    )
    return compiled.referenced


def _staged(con: duckdb.DuckDBPyConnection, seq: int) -> int:
    """The rows of this file in ``_parsed``."""
    return query_one(con, "select count(*) from _parsed where _seq = ?", [seq])[0]


def _unmapped_fields(con: duckdb.DuckDBPyConnection, seq: int) -> tuple[str, ...]:
    """The top-level fields of this file's records that no expression reads."""
    names = query_one(
        con,
        "select list_distinct(flatten(list(json_keys(_unmapped)))) from _parsed "
        "where _seq = ? and _unmapped is not null",
        [seq],
    )[0]
    return tuple(sorted(names or ()))


def _json_error(kind: str) -> str:
    return (
        f"case when r._error is not null then 'malformed {kind}: ' || r._error "
        f"when not r._ok then 'malformed {kind}: not a JSON object' end"
    )


def _parse_jsonl(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    read: Read,
    path: Path,
    seq: int,
    declared: str | None,
) -> Parsed:
    """A file whose every physical line is a record goes through DuckDB's reader (rows in file
    order, so the row number is the line); any other is read line by line, so that a bad line
    is quarantined with its number and text and the rest still loads."""
    shape = FileShape("json", "jsonl")
    relation = (
        "(select row_number() over () as _line, json::varchar as _text, null::varchar as _error, "
        "json_type(json) = 'OBJECT' as _ok "
        f"from read_ndjson_objects({_q(str(path))}, maximum_object_size = {MAX_OBJECT_BYTES}))"
    )
    try:
        _insert(con, mapping, shape, relation, seq, declared, _json_error("line"))
        staged = _staged(con, seq)
        regular = staged == _physical_lines(path)
    except duckdb.Error as exc:
        if isinstance(exc, NOT_THE_FILE):
            raise
        regular = False
    if regular:
        return Parsed(staged, _unmapped_fields(con, seq))
    con.execute("delete from _parsed where _seq = ?", [seq])
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
            "_text": pa.array(texts, type=pa.string()),
            "_error": pa.array(errors, type=pa.string()),
        }
    )
    con.register("_text_lines", table)
    try:
        relation = (
            "(select _line, _text, _error, case when _error is null and json_valid(_text) "
            "then json_type(_text) = 'OBJECT' else false end as _ok from _text_lines)"
        )
        _insert(con, mapping, shape, relation, seq, declared, _json_error("line"))
    finally:
        con.unregister("_text_lines")
    return Parsed(len(numbers), _unmapped_fields(con, seq))


def _parse_json(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    read: Read,
    path: Path,
    seq: int,
    declared: str | None,
) -> Parsed:
    """A JSON document (or several, one after another) holding its records in an array: at
    ``read.records`` (CloudTrail's ``Records``), or the document itself. Records are numbered
    from 1 through the file; a document without the array refuses the file."""
    where = jsonpath(parse_path(read.records)) if read.records else "$"
    docs = (
        f"(select row_number() over () as _doc, json from read_json_objects({_q(str(path))}, "
        f"format = 'auto', maximum_object_size = {MAX_OBJECT_BYTES}))"
    )
    bad = con.execute(
        f"select _doc, coalesce(json_type(json, {_q(where)}), 'nothing') from {docs} "
        f"where json_type(json, {_q(where)}) is distinct from 'ARRAY' order by 1 limit 1"
    ).fetchall()
    if bad:
        doc, found = bad[0]
        at = f"at {read.records}" if read.records else "as the document"
        raise NotRecords(f"document {doc} has no records array {at} (found {found.lower()})")
    relation = (
        "(select row_number() over (order by d._doc, e.key::bigint) as _line, "
        "e.value::varchar as _text, null::varchar as _error, "
        "json_type(e.value) = 'OBJECT' as _ok "
        f"from {docs} d, json_each(d.json, {_q(where)}) e)"
    )
    _insert(con, mapping, FileShape("json", "json"), relation, seq, declared, _json_error("record"))
    staged = _staged(con, seq)
    return Parsed(staged, _unmapped_fields(con, seq))


def _csv_header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str] | None:
    """The header as DuckDB's reader sees it, or None when it cannot read the file."""
    try:
        return [
            r[0]
            for r in con.execute(
                f"describe select * from read_csv({_q(str(path))}, header = true, "
                "all_varchar = true, strict_mode = true)"
            ).fetchall()
        ]
    except duckdb.Error:
        return None


def _regular_csv_records(con: duckdb.DuckDBPyConnection, path: Path, header: list[str]) -> bool:
    """True when DuckDB's CSV reader loads the file with exact line numbers: the file is UTF-8,
    every record parses, and records and physical lines are one to one (no blank lines, no
    quoted line breaks), and the header is the file's own first line."""
    first = head_bytes(path, 64 * 1024).split(b"\n", 1)[0].rstrip(b"\r")
    try:
        cells = next(csv.reader([first.decode("utf-8")]))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return False
    if cells != header:  # DuckDB renamed a repeated or empty column
        return False
    try:
        records = query_one(
            con,
            f"select count(*) from read_csv({_q(str(path))}, header = true, all_varchar = true, "
            "strict_mode = true)",
        )[0]
        lines, blank = query_one(
            con,
            "select count(*), count(*) filter (where not (line is not null and trim(line) <> ''))"
            f" from read_csv({_q(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, "
            "delim = chr(30), quote = '', escape = '', auto_detect = false)",
        )
    except duckdb.Error:
        return False
    return not blank and records + 1 == lines


def _parse_csv(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    read: Read,
    path: Path,
    seq: int,
    declared: str | None,
) -> Parsed:
    """A regular file goes through DuckDB's CSV reader; any other is read record by record, so a
    bad line is quarantined with its number and text and the rest still loads."""
    header = _csv_header(con, path)
    if header and _regular_csv_records(con, path, header):
        shape = FileShape("columns", "csv", {h: "VARCHAR" for h in header})
        cells = ", ".join(ident(h) for h in header)
        relation = (
            f"(select row_number() over () + 1 as _line, to_json([{cells}])::varchar as _text, "
            f"null::varchar as _error, true as _ok, * "
            f"from read_csv({_q(str(path))}, header = true, all_varchar = true, "
            "strict_mode = true))"
        )
        referenced = _insert(con, mapping, shape, relation, seq, declared, "null::varchar")
        staged = _staged(con, seq)
        return Parsed(staged, tuple(sorted(h for h in header if h not in referenced)))
    return _parse_csv_records(con, mapping, path, seq, declared)


def _parse_csv_records(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    path: Path,
    seq: int,
    declared: str | None,
) -> Parsed:
    not_utf8 = {number: error for number, _, error in _text_lines(path) if error}
    with _text(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        names = [_printable(h) for h in header]
        header_error = None
        repeated = sorted({n for n in names if names.count(n) > 1})
        if 1 in not_utf8:
            header_error = f"file header is {not_utf8[1]}"
        elif repeated:
            header_error = f"file header repeats column(s) {', '.join(repeated)}"
        columns = {n: "VARCHAR" for n in dict.fromkeys(names)}
        data: dict[str, list[object]] = {k: [] for k in ("_line", "_text", "_error")}
        cells: list[list[str | None]] = [[] for _ in columns]
        read = 0
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
                error = f"{where}{not_utf8[bad[0]]}"
                row = [_printable(cell) for cell in row]
            elif error is None and len(row) != len(header):
                error = f"expected {len(header)} fields, found {len(row)}"
            data["_line"].append(last)
            data["_text"].append(json.dumps(row))
            data["_error"].append(error)
            for i, column in enumerate(cells):
                column.append(row[i] if error is None and i < len(row) else None)
    arrays = {
        "_line": pa.array(data["_line"], type=pa.int64()),
        "_text": pa.array(data["_text"], type=pa.string()),
        "_error": pa.array(data["_error"], type=pa.string()),
    }
    arrays.update({f"c{i}": pa.array(values, type=pa.string()) for i, values in enumerate(cells)})
    con.register("_csv_rows", pa.table(arrays))
    try:
        renamed = ", ".join(f"c{i} as {ident(name)}" for i, name in enumerate(columns))
        relation = (
            f"(select _line, _text, _error, true as _ok{', ' + renamed if renamed else ''} "
            "from _csv_rows)"
        )
        shape = FileShape("columns", "csv", columns)
        referenced = _insert(
            con,
            mapping,
            shape,
            relation,
            seq,
            declared,
            "case when r._error is not null then 'malformed line: ' || r._error end",
        )
    finally:
        con.unregister("_csv_rows")
    return Parsed(read, tuple(sorted(c for c in columns if c not in referenced)))


def _parse_parquet(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    read: Read,
    path: Path,
    seq: int,
    declared: str | None,
) -> Parsed:
    """Rows read is the file's own row count (its footer), apart from the rows scanned."""
    file = _q(str(path))
    described = con.execute(f"describe select * from read_parquet({file})").fetchall()
    columns = {r[0]: r[1] for r in described}
    shape = FileShape("columns", "parquet", columns)
    read_rows = query_one(con, f"select num_rows from parquet_file_metadata({file})")[0]
    relation = (
        "(select file_row_number + 1 as _line, to_json(p)::varchar as _text, "
        "null::varchar as _error, true as _ok, p.* "
        f"from read_parquet({file}, file_row_number = true) p)"
    )
    referenced = _insert(con, mapping, shape, relation, seq, declared, "null::varchar")
    return Parsed(int(read_rows), tuple(sorted(c for c in columns if c not in referenced)))


PARSERS = {"jsonl": _parse_jsonl, "json": _parse_json, "csv": _parse_csv, "parquet": _parse_parquet}

# What a reader raises on a file it cannot read: the file is refused whole ...
READER_FAILURES = (duckdb.Error, csv.Error, NotRecords, OSError, EOFError)
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
