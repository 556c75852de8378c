"""Landing files rewritten without one tenant's records: JSONL and CSV records kept byte for
byte, Parquet row groups filtered; other records that name the tenant are redacted."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tenantproof.core.sources import Source
from tenantproof.erasure.redaction import Identifiers
from tenantproof.ingest.mapping import parse_path


def csv_records(text: str) -> Iterator[tuple[list[str], str]]:
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


def jsonl_owned(text: str, ids: Identifiers) -> bool:
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if isinstance(record, dict):
        return record.get("tenant_id") == ids.tenant_id
    pattern = r'"tenant_id"\s*:\s*"' + re.escape(ids.tenant_id) + '"'
    return re.search(pattern, text) is not None


def rewrite_jsonl(data: bytes, ids: Identifiers) -> tuple[bytes, int, int]:
    out, removed, redacted = [], 0, 0
    for line in data.splitlines(keepends=True):
        text = line.decode("utf-8", "surrogateescape")
        if not ids.may_name_tenant(text):
            out.append(line)
            continue
        if jsonl_owned(text, ids):
            removed += 1
            continue
        new = ids.redact(text)
        redacted += new != text
        out.append(new.encode("utf-8", "surrogateescape"))
    return b"".join(out), removed, redacted


def rewrite_csv(data: bytes, ids: Identifiers) -> tuple[bytes, int, int]:
    text = data.decode("utf-8", "surrogateescape")
    out, removed, redacted = [], 0, 0
    header: list[str] | None = None
    for row, raw in csv_records(text):
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


def rewrite_parquet(path: Path, ids: Identifiers) -> tuple[pa.Table | None, int, int]:
    table = pq.read_table(path, partitioning=None)
    removed = 0
    if "tenant_id" in table.column_names:
        owned = pc.equal(table.column("tenant_id").cast(pa.string()), ids.tenant_id)
        owned = owned.fill_null(False)
        removed = pc.sum(owned.cast(pa.int64())).as_py() or 0
        if removed:
            table = table.filter(pc.invert(owned))
    table, redacted = _redacted_table(table, ids)
    return (table if removed or redacted else None), removed, redacted


def _redacted_table(table: pa.Table, ids: Identifiers) -> tuple[pa.Table, int]:
    """The table with the tenant's identifiers redacted in its text, and the rows changed."""
    changed = pa.array([False] * table.num_rows, pa.bool_())
    for i, column in enumerate(table.schema):
        if table.num_rows == 0:
            continue
        if _is_string_list(column.type):
            new_list, differs = _redacted_lists(table.column(i).combine_chunks(), ids)
            if differs is not None:
                table = table.set_column(i, column, new_list)
                changed = pc.or_(changed, differs)
            continue
        if not pa.types.is_string(column.type):
            continue
        values = table.column(i)
        hits = pc.match_substring_regex(values, ids.own_substring).fill_null(False)
        if not pc.any(hits).as_py():
            continue
        new = ids.arrow_redacted(values)
        differs = pc.not_equal(new, values).fill_null(False)
        if pc.any(differs).as_py():
            table = table.set_column(i, column, pc.if_else(differs, new, values))
            changed = pc.or_(changed, differs.combine_chunks())
    return table, pc.sum(changed.cast(pa.int64())).as_py() or 0


def _is_string_list(typ: pa.DataType) -> bool:
    return (pa.types.is_list(typ) or pa.types.is_large_list(typ)) and pa.types.is_string(
        typ.value_type
    )


def _redacted_lists(
    lists: pa.ListArray, ids: Identifiers
) -> tuple[pa.ListArray, pa.BooleanArray | None]:
    """A list-of-strings column (e.g. the tenants a drift flag affects) with the tenant's
    identifiers redacted in its elements, and which rows changed (None: none did)."""
    if lists.offset:
        lists = lists.take(pa.array(np.arange(len(lists))))  # a slice, made whole
    values = lists.values
    if len(values) == 0:
        return lists, None
    hits = pc.match_substring_regex(values, ids.own_substring).fill_null(False)
    if not pc.any(hits).as_py():
        return lists, None
    new = ids.arrow_redacted(values)
    differs = pc.not_equal(new, values).fill_null(False)
    if not pc.any(differs).as_py():
        return lists, None
    rebuilt = type(lists).from_arrays(
        lists.offsets, pc.if_else(differs, new, values), mask=lists.is_null()
    )
    # offsets index .values (the whole child array, even of a slice)
    seen = np.concatenate([[0], np.cumsum(differs.to_numpy(zero_copy_only=False))])
    offsets = lists.offsets.to_numpy()
    return rebuilt, pa.array(seen[offsets[1:]] - seen[offsets[:-1]] > 0, pa.bool_())


def rewrite_landing_file(
    path: Path, source: Source, ids: Identifiers
) -> tuple[bytes | None, int, int]:
    """The file without the tenant's records and with its identifiers redacted from the rest
    (None when nothing changes), the records removed and the records redacted."""
    return rewrite_file(path, source.format, ids)


def rewrite_file(path: Path, fmt: str, ids: Identifiers) -> tuple[bytes | None, int, int]:
    """As ``rewrite_landing_file``, for any JSONL, CSV or Parquet file."""
    if fmt == "parquet":
        table, removed, redacted = rewrite_parquet(path, ids)
        if table is None:
            return None, 0, 0
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return sink.getvalue().to_pybytes(), removed, redacted
    data = path.read_bytes()
    rewrite = rewrite_jsonl if fmt == "jsonl" else rewrite_csv
    new, removed, redacted = rewrite(data, ids)
    return (new if new != data else None), removed, redacted


def _gzipped(path: Path, data: bytes) -> bytes:
    return gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data


def rewrite_lines(
    path: Path, fmt: str, lines: set[int], ids: Identifiers, records: str | None = None
) -> tuple[bytes | None, int, int]:
    """The file without the records at ``lines`` (as ingest numbered them: physical lines of
    JSON Lines, a record's last line in CSV, the row of a Parquet file, the record of a JSON
    document at ``records``, numbered through the file), for a source whose records do not
    name their tenant (a lookup or a delivery folder attributes them): the lineage of the loaded
    rows says which are the tenant's. The records kept have the tenant's identifiers redacted,
    as in every landing file. None when nothing changes; with the records removed and redacted."""
    if fmt == "parquet":
        table = pq.read_table(path, partitioning=None)
        keep = np.array([n + 1 not in lines for n in range(table.num_rows)], dtype=bool)
        removed = int((~keep).sum())
        table, redacted = _redacted_table(table.filter(pa.array(keep)), ids)
        if not removed and not redacted:
            return None, 0, 0
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return sink.getvalue().to_pybytes(), removed, redacted
    raw = path.read_bytes()
    data = gzip.decompress(raw) if path.name.endswith(".gz") else raw
    text = data.decode("utf-8", "surrogateescape")
    kept: list[str] = []
    removed = 0
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(keepends=True), start=1):
            if number in lines:
                removed += 1
            else:
                kept.append(line)
    elif fmt == "csv":
        line_no = 0
        for _, record in csv_records(text):
            line_no += record.count("\n") if record.endswith("\n") else record.count("\n") + 1
            if kept and line_no in lines:
                removed += 1
            else:
                kept.append(record)
    else:  # a JSON document (or several), its records in one array each
        documents, removed = _rewrite_documents(text, lines, records)
        kept = [d + "\n" for d in documents]
    redacted = 0
    for i, record in enumerate(kept):
        if ids.may_name_tenant(record):
            new = ids.redact(record)
            redacted += new != record
            kept[i] = new
    if not removed and not redacted:
        return None, 0, 0
    return _gzipped(path, "".join(kept).encode("utf-8", "surrogateescape")), removed, redacted


def _rewrite_documents(text: str, lines: set[int], records: str | None) -> tuple[list[str], int]:
    decoder = json.JSONDecoder()
    docs, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)
    number = removed = 0
    out = []
    for doc in docs:
        holder, key = _records_of(doc, records)
        found = holder[key] if holder is not None else []
        kept = []
        for record in found:
            number += 1
            if number in lines:
                removed += 1
            else:
                kept.append(record)
        if holder is not None:
            holder[key] = kept
        out.append(json.dumps(doc, ensure_ascii=False))
    return out, removed


def _records_of(doc: object, records: str | None) -> tuple[dict | list | None, str | int]:
    """Where a document keeps its records: at the mapping's ``records`` path, or the document
    itself when it is the array (``None`` when it has none)."""
    if records is None:
        return ([doc], 0) if isinstance(doc, list) else (None, 0)
    *parents, last = parse_path(records)
    node = doc
    for segment in parents:
        try:
            node = node[segment]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None, 0
    try:
        if isinstance(node[last], list):  # type: ignore[index]
            return node, last  # type: ignore[return-value]
    except (KeyError, IndexError, TypeError):
        pass
    return None, 0
