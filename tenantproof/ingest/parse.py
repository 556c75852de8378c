"""Parsing landing files: every format becomes one temporary relation,
``_parsed(_line, _record, _parse_error, <declared columns as text>)``, a row per non-blank line
or row read, so that checking and routing are the same for every format. A line that is not
UTF-8 or not a record of the format is kept with its parse error, never dropped."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from tenantproof.core.sources import Source
from tenantproof.core.warehouse import sql_literal as _q


def query_one(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> tuple:
    """The first row of a query, fetched to the end: DuckDB refuses some calls on a connection
    (``register``) while a result is still open."""
    return con.execute(sql, params or []).fetchall()[0]


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


def parsed_columns(source: Source) -> str:
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
        read, irregular, keys = query_one(
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
        read = query_one(con, f"select count(*) from {lines} where {NONBLANK}")[0]
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
        keys = query_one(
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
        lines, blank = query_one(
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
        records = query_one(
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
    read = query_one(con, f"select num_rows from parquet_file_metadata({file})")[0]
    con.execute(
        f"""insert into _parsed
        select {seq}, file_row_number + 1, to_json(p)::varchar, {error}::varchar,
               {", ".join(cols)}
        from read_parquet({file}, file_row_number = true) p"""
    )
    return Parsed(int(read), _undeclared(source, present))


PARSERS = {"jsonl": _parse_jsonl, "csv": _parse_csv, "parquet": _parse_parquet}
