"""Landing files rewritten without one tenant's records: JSONL and CSV records kept byte for
byte, Parquet row groups filtered; other records that name the tenant are redacted."""

from __future__ import annotations

import csv
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
    redacted = pc.sum(changed.cast(pa.int64())).as_py() or 0
    return (table if removed or redacted else None), removed, redacted


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
