"""Source mappings: one YAML file per landing source (docs/SOURCES.md).

A mapping says which landing files a source reads, which canonical entity
(``tenantproof.core.sources``) each record becomes, an expression per canonical column and how a
record is attributed to a tenant. It is checked when it is loaded, against the JSON Schema
``sources/mapping.schema.json`` (with the ``jsonschema`` package) and then against the entity it
names; a bad mapping is refused naming its file, the key and the problem, and nothing runs.

The shipped mappings are in the project's ``sources/`` folder; a platform adds its own in
``<home>/sources/``. A mapping is compiled to SQL by ``tenantproof.ingest.compile``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import yaml
from wcmatch import glob as wcglob

from tenantproof.core.home import PROJECT_DIR, Home
from tenantproof.core.sources import SOURCES, Attribution, Source

SHIPPED_DIR = PROJECT_DIR / "sources"
SCHEMA_FILE = SHIPPED_DIR / "mapping.schema.json"
SUFFIXES = (".yml", ".yaml")
GLOB_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTMATCH
TIMESTAMP_FORMATS = ("iso8601", "auto", "epoch_s", "epoch_ms", "epoch_us", "epoch_ns")
# The columns that attribution fills when a mapping does not name the tenant in its columns.
ATTRIBUTION_COLUMNS = ("tenant_id", "global_scope", "scope_justification")


class MappingError(ValueError):
    """A mapping file that cannot be used: its file, the key (a dotted path into the document,
    '' for the whole file) and the problem."""

    def __init__(self, file: Path | str, key: str, problem: str):
        self.file = str(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Read:
    files: str  # a glob under the landing folder
    format: str  # jsonl | json | csv | parquet
    records: str | None = None  # format json: the path of the records array

    @property
    def folder(self) -> str:
        """The glob's first segment: the source's landing folder."""
        return self.files.split("/", 1)[0]

    def matches(self, rel_path: str) -> bool:
        return wcglob.globmatch(rel_path, self.files, flags=GLOB_FLAGS)


@dataclass(frozen=True)
class Mapping:
    name: str
    version: int
    entity: Source
    reads: tuple[Read, ...]
    tenant: dict[str, Any]
    columns: dict[str, Any]  # canonical column -> expression (as in the file)
    file: Path
    description: str = ""
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def folders(self) -> tuple[str, ...]:
        return tuple(sorted({r.folder for r in self.reads}))

    @property
    def attribution_mode(self) -> str:
        """field | lookup | delivery_folder | global_scope | registry (the tenant registry and the
        lookup table itself, whose rows are not attributed to a tenant)."""
        for mode in ("lookup", "delivery_folder", "global_scope", "field"):
            if mode in self.tenant:
                return mode
        return "registry"

    def read_for(self, rel_path: str) -> Read | None:
        for read in self.reads:
            if read.matches(rel_path):
                return read
        return None


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _key(path: Iterable[object]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_problem(file: Path, document: Any) -> MappingError | None:
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    best = jsonschema.exceptions.best_match(errors)
    if best.validator in ("anyOf", "oneOf") and best.context:
        deepest = jsonschema.exceptions.best_match(best.context)
        best = deepest if list(deepest.absolute_path) else best
    message = best.message
    if best.validator == "pattern" and isinstance(best.schema, dict):
        rule = best.schema.get("description")
        message = f"{best.instance!r} is not allowed" + (f": {rule}" if rule else "")
    if len(message) > 300:
        message = message[:299] + "…"
    return MappingError(file, _key(best.absolute_path), message)


# -- paths into a record: a.b.c, a[0].b, a."dotted.key" --

_SEGMENT = re.compile(r'"((?:[^"\\]|\\.)*)"|([^.\[\]"]+)|\[(\d+)\]')


def parse_path(text: str) -> tuple[str | int, ...]:
    """The segments of a path: names and array indices (from 0). Raises ValueError."""
    segments: list[str | int] = []
    pos = 0
    expect_name = True
    while pos < len(text):
        if not expect_name and text[pos] == ".":
            pos += 1
            expect_name = True
            continue
        m = _SEGMENT.match(text, pos)
        if not m or (expect_name and m.group(3) is not None and not segments):
            raise ValueError(f"cannot read the path {text!r} at character {pos + 1}")
        if m.group(3) is not None:
            segments.append(int(m.group(3)))
        elif not expect_name:
            raise ValueError(f"cannot read the path {text!r} at character {pos + 1}")
        else:
            name = m.group(1) if m.group(1) is not None else m.group(2)
            if m.group(1) is not None:
                name = re.sub(r"\\(.)", r"\1", name)
            segments.append(name)
        pos = m.end()
        expect_name = False
    if expect_name or not segments:
        raise ValueError(f"cannot read the path {text!r}: it ends without a name")
    return tuple(segments)


OPERATORS = (
    "path",
    "const",
    "coalesce",
    "map",
    "regex",
    "cast",
    "timestamp",
    "concat",
    "hash",
    "lower",
    "upper",
)


def operator_of(expr: Any) -> str:
    if isinstance(expr, str):
        return "path"
    ops = [k for k in expr if k in OPERATORS]
    return ops[0]


def label(expr: Any, default: str) -> str:
    """How a reason names the field an expression reads: its path, the paths of a coalesce
    ("a or b"), else ``default``."""
    if isinstance(expr, str):
        return expr
    if "path" in expr:
        return expr["path"]
    if "coalesce" in expr:
        paths = [label(e, "") for e in expr["coalesce"]]
        paths = [p for p in paths if p]
        if paths:
            return " or ".join(dict.fromkeys(paths))
    return default


def walk(expr: Any, key: str) -> Iterator[tuple[str, str, Any]]:
    """(key, operator, expression) for the expression and every expression inside it."""
    op = operator_of(expr)
    yield key, op, expr
    if isinstance(expr, str):
        return
    inner = expr[op]
    if op in ("coalesce", "concat") or (op == "hash" and isinstance(inner, list)):
        for i, e in enumerate(inner):
            yield from walk(e, f"{key}.{op}[{i}]")
    elif op in ("map", "regex", "cast", "timestamp", "lower", "upper"):
        yield from walk(inner, f"{key}.{op}")
    if op == "map" and "default" in expr:
        yield from walk(expr["default"], f"{key}.default")


def _check_regex(pattern: str) -> str | None:
    con = _regex_checker()
    try:
        con.execute("select regexp_matches('', ?)", [pattern]).fetchall()
    except duckdb.Error as exc:
        return str(exc).splitlines()[0]
    return None


@cache
def _regex_checker() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _check_expression(file: Path, key: str, expr: Any) -> None:
    for at, op, e in walk(expr, key):
        if isinstance(e, dict):
            ops = [k for k in e if k in OPERATORS]
            if len(ops) != 1:
                problem = (
                    f"one operator per expression, found {', '.join(ops)}"
                    if ops
                    else f"no operator (one of {', '.join(OPERATORS)})"
                )
                raise MappingError(file, at, problem)
        if op == "path":
            text = e if isinstance(e, str) else e["path"]
            try:
                parse_path(text)
            except ValueError as exc:
                raise MappingError(file, at, str(exc)) from None
        elif op == "regex":
            problem = _check_regex(e["pattern"])
            if problem:
                raise MappingError(file, f"{at}.pattern", f"not a regular expression: {problem}")
        elif op == "timestamp":
            fmt = e.get("format", "iso8601")
            if fmt not in TIMESTAMP_FORMATS and "%" not in fmt:
                raise MappingError(
                    file,
                    f"{at}.format",
                    f"unknown timestamp format {fmt!r}: one of {', '.join(TIMESTAMP_FORMATS)}, "
                    "or a strptime format such as %Y-%m-%d %H:%M:%S",
                )


def _check_against_entity(file: Path, doc: dict[str, Any], entity: Source) -> None:
    columns = doc["columns"]
    for name in columns:
        if name not in entity.columns:
            raise MappingError(
                file,
                f"columns.{name}",
                f"not a column of {entity.name} (its columns: {', '.join(entity.columns)})",
            )
    tenant = doc["tenant"]
    modes = [m for m in ("field", "lookup", "delivery_folder", "global_scope") if m in tenant]
    registry = entity.attribution is Attribution.REGISTRY
    if registry and modes:
        raise MappingError(
            file, "tenant", f"{entity.name} rows are not attributed to a tenant: use tenant: {{}}"
        )
    if not registry and len(modes) != 1:
        problem = (
            f"one attribution rule, found {', '.join(modes)}"
            if modes
            else "no attribution rule: one of field, lookup, delivery_folder, global_scope"
        )
        raise MappingError(file, "tenant", problem)
    mode = modes[0] if modes else "registry"
    if mode == "field" and "tenant_id" not in columns:
        raise MappingError(file, "columns.tenant_id", "tenant: field needs columns.tenant_id")
    if mode not in ("field", "registry"):
        for name in ATTRIBUTION_COLUMNS:
            if name in columns:
                raise MappingError(
                    file,
                    f"columns.{name}",
                    f"set by the attribution rule (tenant: {mode}), not by an expression",
                )
    if mode == "global_scope" and "global_scope" not in entity.columns:
        raise MappingError(
            file, "tenant.global_scope", f"{entity.name} rows must name a tenant (no global scope)"
        )
    if entity.key not in columns:
        raise MappingError(
            file,
            f"columns.{entity.key}",
            f"the key of {entity.name} must be mapped (a field, or hash: record where the "
            "source has no id)",
        )
    for name, expr in columns.items():
        _check_expression(file, f"columns.{name}", expr)
    if "key" in tenant:
        _check_expression(file, "tenant.key", tenant["key"])
    for i, read in enumerate(doc["read"]):
        if read["format"] != "json" and "records" in read:
            raise MappingError(file, f"read[{i}].records", "only for format: json")
        if read.get("records"):
            try:
                parse_path(read["records"])
            except ValueError as exc:
                raise MappingError(file, f"read[{i}].records", str(exc)) from None
        folder = read["files"].split("/", 1)[0]
        if wcglob.is_magic(folder, flags=GLOB_FLAGS) or folder in (".", ".."):
            raise MappingError(
                file, f"read[{i}].files", "must start with a folder name without wildcards"
            )


def load_mapping(file: Path) -> Mapping:
    """One mapping file, checked; MappingError names the file, the key and the problem."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(file, "", f"cannot be read: {exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise MappingError(file, where, f"not YAML: {problem}") from None
    problem = _schema_problem(file, doc)
    if problem:
        raise problem
    entity = SOURCES[doc["entity"]]
    _check_against_entity(file, doc, entity)
    reads = tuple(Read(r["files"], r["format"], r.get("records")) for r in doc["read"])
    return Mapping(
        name=doc["name"],
        version=doc["version"],
        entity=entity,
        reads=reads,
        tenant=dict(doc["tenant"]),
        columns=dict(doc["columns"]),
        file=file,
        description=doc.get("description", ""),
        document=doc,
    )


def mapping_files(home: Home | None) -> list[Path]:
    """The shipped mapping files, then the home's own (``<home>/sources/``)."""
    folders = [SHIPPED_DIR] + ([home.sources] if home is not None else [])
    out: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            out += sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())
    return out


def load_mappings(home: Home | None) -> list[Mapping]:
    """Every mapping, checked, in load order (entities in the order they depend on each other,
    then by name); two mappings with one name are refused."""
    mappings: dict[str, Mapping] = {}
    for file in mapping_files(home):
        mapping = load_mapping(file)
        if mapping.name in mappings:
            raise MappingError(
                file,
                "name",
                f"source {mapping.name} is already defined by {mappings[mapping.name].file}",
            )
        mappings[mapping.name] = mapping
    for entity in SOURCES.values():
        if entity.name not in mappings:
            raise MappingError(SHIPPED_DIR, "", f"no mapping for {entity.name}: it is shipped")
    order = list(SOURCES)
    return sorted(mappings.values(), key=lambda m: (order.index(m.entity.name), m.name))


def mapping_for(mappings: Iterable[Mapping], name: str) -> Mapping:
    for mapping in mappings:
        if mapping.name == name:
            return mapping
    raise KeyError(name)
