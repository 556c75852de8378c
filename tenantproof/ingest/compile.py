"""A source mapping compiled to SQL: one expression per canonical column over a relation of
records, so a file is read by one DuckDB query and no record goes through Python.

Two shapes of record relation:

- ``json`` (JSON Lines, JSON documents): ``r._text`` is the record's JSON text. Every path the
  mapping names is extracted in one call (``json_extract_string(_text, [pointers])``: the record
  is parsed once), guarded by ``r._ok`` (the record is a JSON object).
- ``columns`` (CSV, Parquet): a path's first segment is a column; deeper segments read into it
  as JSON (a CSV cell holding JSON, a Parquet struct or list).

Every value is text (NULL when absent); the entity's types are applied after, by the checks of
``tenantproof.ingest.route``, so a value that is not of its type is quarantined naming its
field. The reference of the expressions is docs/SOURCES.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tenantproof.core.warehouse import sql_literal as _q
from tenantproof.ingest.mapping import Mapping, label, operator_of, parse_path

# What an ISO 8601 instant is written as between the expressions and the typed check (UTC).
ISO_UTC = "'%Y-%m-%dT%H:%M:%S.%f'"
UTC = "'UTC'"
EPOCH_DIVISORS = {"epoch_s": 1, "epoch_ms": 1_000, "epoch_us": 1_000_000, "epoch_ns": 1_000_000_000}


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pointer(segments: tuple[str | int, ...]) -> str:
    """The JSON pointer (RFC 6901) of a path's segments."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in segments)


def jsonpath(segments: tuple[str | int, ...]) -> str:
    """The JSONPath of a path's segments (for the records array of a document)."""
    out = "$"
    for s in segments:
        out += f"[{s}]" if isinstance(s, int) else "." + json.dumps(s)
    return out


@dataclass
class FileShape:
    """What the compiler knows of a file: the relation's shape and, for columns, the file's
    columns (header or schema) with their DuckDB types."""

    mode: str  # json | columns
    fmt: str  # jsonl | json | csv | parquet
    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class Compiled:
    extract: list[str]  # inner select items (the one-parse extraction lists)
    columns: dict[str, str]  # canonical column -> SQL over r (text)
    tenant_key: str | None  # the lookup key's SQL
    tenant_key_field: str | None  # the key's field, as quarantine reasons name it
    unmapped: str  # SQL: JSON text of what no expression reads, or NULL
    referenced: set[str]  # top-level fields (or columns) the mapping reads


class _Compiler:
    def __init__(self, mapping: Mapping, shape: FileShape):
        self.mapping = mapping
        self.shape = shape
        self.str_paths: list[str] = []
        self.json_paths: list[str] = []
        self.paths: list[tuple[str | int, ...]] = []
        self.referenced: set[str] = set()

    # -- paths --

    def path(self, text: str, as_json: bool) -> str:
        segments = parse_path(text)
        self.paths.append(segments)
        self.referenced.add(str(segments[0]))
        if self.shape.mode == "json":
            ptr = pointer(segments)
            paths = self.json_paths if as_json else self.str_paths
            if ptr not in paths:
                paths.append(ptr)
            i = paths.index(ptr) + 1
            if as_json:
                return f"nullif(r._j[{i}]::varchar, 'null')"
            return f"r._v[{i}]"
        column = str(segments[0])
        if column not in self.shape.columns:  # absent, as a key a JSON record lacks
            return "null::varchar"
        col = f"r.{ident(column)}"
        typ = self.shape.columns[column].upper()
        textual = typ in ("VARCHAR", "JSON")
        if len(segments) == 1:
            if self.shape.fmt == "csv":
                return f"nullif({col}, '')"
            if as_json and not textual:
                return f"to_json({col})::varchar"
            return f"{col}::varchar"
        doc = col if textual else f"to_json({col})"
        fn = "json_extract" if as_json else "json_extract_string"
        value = f"try({fn}({doc}, {_q(pointer(segments[1:]))}))::varchar"
        return f"nullif({value}, 'null')" if as_json else value

    # -- expressions --

    def expr(self, e: Any, as_json: bool = False) -> str:
        op = operator_of(e)
        if op == "path":
            return self.path(e if isinstance(e, str) else e["path"], as_json)
        inner = e[op]
        if op == "const":
            if inner is None:
                return "null::varchar"
            if isinstance(inner, bool):
                return _q("true" if inner else "false")
            return _q(str(inner))
        if op == "coalesce":
            parts = [self.expr(x, as_json) for x in inner]
            return f"coalesce({', '.join(parts)})"
        if op == "concat":
            sep = _q(e.get("sep", ""))
            parts = [self.expr(x) for x in inner]
            return "(" + f" || {sep} || ".join(parts) + ")" if len(parts) > 1 else parts[0]
        if op == "map":
            value = self.expr(inner)
            default = self.expr(e["default"]) if "default" in e else value
            whens = " ".join(
                f"when {_q(str(k))} then " + ("null::varchar" if v is None else _q(_scalar_text(v)))
                for k, v in e["values"].items()
            )
            return f"(case {value} {whens} else {default} end)" if whens else default
        if op == "regex":
            value = self.expr(inner)
            group = int(e.get("group", 1))
            return f"nullif(regexp_extract({value}, {_q(e['pattern'])}, {group}), '')"
        if op == "cast":
            value = self.expr(inner)
            return f"try_cast({value} as {e['type'].upper()})::varchar"
        if op == "lower" or op == "upper":
            return f"{op}({self.expr(inner)})"
        if op == "timestamp":
            return _timestamp(self.expr(inner), e.get("format", "iso8601"))
        if op == "hash":
            if inner == "record":
                return "sha256(r._text)"
            parts = [self.expr(x) for x in inner]
            return f"sha256(to_json([{', '.join(parts)}])::varchar)"
        raise AssertionError(op)

    # -- what no expression reads --

    def unmapped(self) -> str:
        if self.shape.mode == "columns":
            rest = [c for c in self.shape.columns if c not in self.referenced]
            if not rest:
                return "null::varchar"
            pairs = ", ".join(f"{_q(c)}, r.{ident(c)}" for c in rest)
            return f"json_object({pairs})::varchar"
        patch: dict[str, Any] = {}
        for segments in self.paths:
            node: dict[str, Any] | None = patch
            names: list[str] = []
            for s in segments:
                if isinstance(s, int):
                    break
                names.append(s)
            else:
                # every segment a name: that leaf is removed (a whole object when it is one)
                for name in names[:-1]:
                    child = node.get(name, {}) if node is not None else None
                    if child is None:  # an ancestor is removed whole already
                        node = None
                        break
                    node[name] = child
                    node = child
                if node is not None:
                    node[names[-1]] = None
        if not patch:
            return "case when r._ok and r._text <> '{}' then r._text end"
        return (
            f"case when r._ok then nullif(json_merge_patch(r._text, {_q(json.dumps(patch))})"
            "::varchar, '{}') end"
        )


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _timestamp(value: str, fmt: str) -> str:
    """An instant as ISO 8601 text in UTC; a value the format cannot read is kept as it is, so
    the typed check quarantines it naming its field and value."""

    def iso(ts: str) -> str:
        return f"(strftime({ts}, {ISO_UTC}) || 'Z')"

    if fmt == "iso8601":
        return value
    if fmt in EPOCH_DIVISORS:
        ts = f"try(to_timestamp(try_cast({value} as double) / {EPOCH_DIVISORS[fmt]}))"
        return f"coalesce({iso(f'({ts} at time zone {UTC})')}, {value})"
    if fmt == "auto":
        number = f"try_cast({value} as double)"
        divisor = (
            f"(case when abs({number}) < 1e11 then 1 when abs({number}) < 1e14 then 1000 "
            f"when abs({number}) < 1e17 then 1000000 else 1000000000 end)"
        )
        ts = f"try(to_timestamp({number} / {divisor}))"
        return f"coalesce({iso(f'({ts} at time zone {UTC})')}, {value})"
    ts = f"try(try_strptime({value}, {_q(fmt)})::timestamptz at time zone 'UTC')"
    return f"coalesce({iso(ts)}, {value})"


def compile_mapping(mapping: Mapping, shape: FileShape) -> Compiled:
    c = _Compiler(mapping, shape)
    entity = mapping.entity
    columns = {
        name: c.expr(expr, as_json=name in entity.json_columns)
        for name, expr in mapping.columns.items()
    }
    tenant_key = tenant_key_field = None
    if "key" in mapping.tenant:
        key = mapping.tenant["key"]
        tenant_key = c.expr(key)
        tenant_key_field = label(key, "tenant.key")
    extract = []
    if shape.mode == "json":
        if c.str_paths:
            extract.append(
                "case when _ok then json_extract_string(_text, "
                f"[{', '.join(_q(p) for p in c.str_paths)}]) end as _v"
            )
        if c.json_paths:
            extract.append(
                "case when _ok then json_extract(_text, "
                f"[{', '.join(_q(p) for p in c.json_paths)}]) end as _j"
            )
    return Compiled(
        extract=extract,
        columns=columns,
        tenant_key=tenant_key,
        tenant_key_field=tenant_key_field,
        unmapped=c.unmapped(),
        referenced=c.referenced,
    )
