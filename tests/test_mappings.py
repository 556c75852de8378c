"""Source mapping files: checked against their JSON Schema and their entity when loaded (a bad
one is refused naming the file, the key and the problem); their expressions, over every
format, give the values the reference in docs/SOURCES.md says."""

from __future__ import annotations

import gzip
import json
import string
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantproof.core.home import Home
from tenantproof.core.policy import load_policy
from tenantproof.core.warehouse import connect
from tenantproof.ingest.landing import unclaimed_files
from tenantproof.ingest.load import ingest_source
from tenantproof.ingest.mapping import (
    SHIPPED_DIR,
    MappingError,
    load_mapping,
    load_mappings,
    parse_path,
)

TENANTS = """tenant_id,tenant_name,tenant_class,residency_region,onboarded_at,offboarded_at
t1,Tenant One,standard,eu,2024-01-01,
t2,Tenant Two,standard,eu,2024-01-01,
"""

GOOD = """name: app_events
version: 2
entity: audit_events
read:
  - files: "app/**/*.jsonl"
    format: jsonl
tenant:
  lookup: app_org
  key: org.slug
columns:
  event_id: id
  occurred_at:
    timestamp: ts
    format: epoch_ms
  action: what
"""


def test_every_shipped_mapping_loads():
    names = [m.name for m in load_mappings(None)]
    assert names[:2] == ["tenants", "tenant_source_accounts"]
    for expected in ("aws_cloudtrail", "okta_system_log", "github_audit", "kubernetes_audit"):
        assert expected in names
    # the five entities of before are mappings of their own format: one mechanism
    for entity in ("audit_events", "access_history", "evidence_events", "incidents"):
        assert entity in names


# -- a bad mapping is refused naming the file, the key and the problem --

BAD = [
    ("columns:\n  event_id: id\n  occured_at: ts\n", "columns.occured_at", "not a column of"),
    ("  action:\n    uppercase: what\n", "columns.action", "Additional properties"),
    ("  action:\n    regex: what\n    pattern: '(['\n", "columns.action.pattern", "regular"),
    ("  action:\n    map: what\n", "columns.action", "'values' is a dependency of 'map'"),
    ("  action:\n    timestamp: ts\n    format: rfc822\n", "columns.action.format", "unknown"),
    ("  action:\n    coalesce: []\n", "columns.action.coalesce", "should be non-empty"),
    ("  action: 'a..b'\n", "columns.action", "cannot read the path"),
    ("  action:\n    const: x\n    path: y\n", "columns.action", "one operator"),
    ("version: zero\n", "version", "is not of type 'integer'"),
    ("entity: audit_event\n", "entity", "is not one of"),
    ("tenant:\n  lookup: app_org\n", "tenant", "'key' is a dependency of 'lookup'"),
    ("tenant:\n  field: true\n", "columns.tenant_id", "tenant: field needs columns.tenant_id"),
    ("tenant: {}\n", "tenant", "no attribution rule"),
    ("read:\n  - files: '*/x.jsonl'\n    format: jsonl\n", "read[0].files", "folder name"),
    ("read:\n  - files: 'a/x.csv'\n    format: xml\n", "read[0].format", "is not one of"),
    ("  tenant_id: org\n", "columns.tenant_id", "set by the attribution rule"),
    ("name: App-Events\n", "name", "'App-Events' is not allowed: The source's name, 1 to 63"),
    ("columns:\n  occurred_at: ts\n  action: what\n", "columns.event_id", "must be mapped"),
    ("columns: [1, 2\n", "line 11", "not YAML"),
]


def _with(change: str) -> str:
    """GOOD with ``change``: top-level keys replaced, or lines appended to columns."""
    if change.startswith("  "):
        return GOOD + change
    key = change.split(":", 1)[0]
    kept, skipping = [], False
    for line in GOOD.splitlines(keepends=True):
        if line.startswith(f"{key}:"):
            skipping = True
            continue
        if skipping and line.startswith(" "):
            continue
        skipping = False
        kept.append(line)
    return "".join(kept) + change


@pytest.mark.parametrize(("change", "key", "problem"), BAD)
def test_a_bad_mapping_is_refused_by_file_key_and_problem(
    tmp_path: Path, change: str, key: str, problem: str
):
    file = tmp_path / "app_events.yml"
    file.write_text(_with(change))
    with pytest.raises(MappingError) as caught:
        load_mapping(file)
    assert caught.value.file == str(file)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{file}: {key}: ")


def test_the_good_mapping_loads(tmp_path: Path):
    file = tmp_path / "app_events.yml"
    file.write_text(GOOD)
    mapping = load_mapping(file)
    assert (mapping.name, mapping.version, mapping.entity.name) == ("app_events", 2, "audit_events")
    assert mapping.attribution_mode == "lookup"


def test_a_bad_mapping_in_the_home_stops_the_build_before_any_work(tmp_path: Path):
    home = tmp_path / "home"
    (home / "sources").mkdir(parents=True)
    (home / "sources" / "app_events.yml").write_text(_with("  action:\n    lower: [1]\n"))
    out = subprocess.run(
        [sys.executable, "-m", "tenantproof.cli.main", "--home", str(home), "build"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 3
    assert out.stderr.startswith(
        f"tenantproof: source mapping refused: {home / 'sources' / 'app_events.yml'}: "
        "columns.action.lower"
    )
    assert "Traceback" not in out.stderr
    assert not (home / "warehouse").exists()  # nothing ran


def test_two_mappings_of_one_name_are_refused(tmp_path: Path):
    home = Home(tmp_path)
    home.sources.mkdir()
    (home.sources / "copy.yml").write_text((SHIPPED_DIR / "github_audit.yml").read_text())
    with pytest.raises(MappingError, match="source github_audit is already defined by"):
        load_mappings(home)


# -- expressions over every format --


def _home(tmp_path: Path, mapping: str, files: dict[str, bytes | str]) -> tuple:
    landing = tmp_path / "landing"
    (landing / "tenants").mkdir(parents=True)
    (landing / "tenants" / "t.csv").write_text(TENANTS)
    (landing / "tenant_source_accounts").mkdir()
    (landing / "tenant_source_accounts" / "a.csv").write_text(
        "lookup,source_key,tenant_id,global_scope,scope_justification\n"
        "app_org,one,t1,,\napp_org,two,t2,,\napp_org,ops,,platform,our own operations\n"
    )
    for rel, content in files.items():
        path = landing / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    home = Home(tmp_path)
    home.sources.mkdir(exist_ok=True)
    (home.sources / "app_events.yml").write_text(mapping)
    con = connect(tmp_path / "w.duckdb")
    mappings = load_mappings(home)
    reports = {m.name: ingest_source(con, landing, m, load_policy(), mappings) for m in mappings}
    return con, reports


EXPRESSIONS = """name: app_events
version: 3
entity: audit_events
read:
  - files: "app/**/*.{jsonl,jsonl.gz}"
    format: jsonl
  - files: "app/**/*.json"
    format: json
    records: batch.items
  - files: "app/**/*.csv"
    format: csv
  - files: "app/**/*.parquet"
    format: parquet
tenant:
  lookup: app_org
  key:
    lower: org.slug
columns:
  event_id:
    coalesce: [id, {hash: [what, ts]}]
  occurred_at:
    timestamp: ts
    format: auto
  actor_id:
    concat: [{const: "user"}, who.id]
    sep: ":"
  actor_email:
    regex: who.contact
    pattern: "<([^>]+)>"
  service:
    const: app
  action:
    upper: what
  outcome:
    map: status
    values:
      "200": success
      "403": failure
    default:
      const: other
  resource_id: 'meta."dotted.key"'
  resource_type: tags[1]
  reason:
    cast: attempts
    type: integer
  details: meta
"""


def _record(**over) -> dict:
    record = {
        "id": "e1",
        "ts": 1_727_000_000_000,
        "org": {"slug": "ONE"},
        "who": {"id": "u7", "contact": "Ana <ana@example.org>", "extra": 1},
        "what": "login",
        "status": 200,
        "meta": {"dotted.key": "r1", "n": 1},
        "tags": ["a", "b"],
        "attempts": "3",
        "kept": True,
    }
    record.update(over)
    return record


def test_each_operator_gives_its_value(tmp_path: Path):
    lines = [
        _record(),
        _record(id=None, status=403, attempts="x", org={"slug": "two"}),
        _record(id="e3", status=500, ts="2024-09-22T10:13:20+02:00"),
    ]
    text = "\n".join(json.dumps({k: v for k, v in r.items() if v is not None}) for r in lines)
    con, reports = _home(tmp_path, EXPRESSIONS, {"app/a.jsonl": text + "\n"})
    report = reports["app_events"]
    assert (report.read, report.loaded, report.quarantined) == (3, 3, 0)
    rows = con.execute(
        "select event_id, occurred_at, tenant_id, actor_id, actor_email, service, action, "
        "outcome, resource_id, resource_type, reason, details, _unmapped, _source_version "
        "from raw.audit_events order by _line"
    ).fetchall()
    first, second, third = rows
    assert first[:1] + first[2:] == (
        "e1",
        "t1",
        "user:u7",
        "ana@example.org",
        "app",
        "LOGIN",
        "success",
        "r1",
        "b",
        "3",
        '{"dotted.key":"r1","n":1}',
        first[12],
        3,
    )
    # what no expression reads: whole fields, the rest of a partly read object, and an array
    # read at one index (kept whole)
    assert json.loads(first[12]) == {
        "who": {"extra": 1},
        "kept": True,
        "tags": ["a", "b"],
        "org": {},
    }
    assert str(first[1]) == "2024-09-22 10:13:20"
    # no id: the hash of the fields named; 403 maps, "x" is not an integer
    import hashlib

    assert second[0] == hashlib.sha256(b'["login","1727000000000"]').hexdigest()
    assert (second[2], second[7], second[10]) == ("t2", "failure", None)
    # a value the map does not list takes the default; ISO text with an offset is UTC
    assert (third[7], str(third[1])) == ("other", "2024-09-22 08:13:20")


def test_the_same_mapping_reads_csv_parquet_records_and_gzip(tmp_path: Path):
    record = _record()
    doc = {"batch": {"items": [record, _record(id="e2")]}}
    csv_text = 'id,ts,org,what,status,who\ne3,1727000000,"{""slug"":""one""}",view,200,\n'
    table = pa.table(
        {
            "id": ["e4"],
            "ts": ["2024-09-22 10:00:00"],
            "org": pa.array([{"slug": "one"}]),
            "what": ["edit"],
            "status": [200],
            "colour": ["red"],
        }
    )
    pq.write_table(table, tmp_path / "x.parquet")
    con, reports = _home(
        tmp_path,
        EXPRESSIONS,
        {
            "app/doc.json": json.dumps(doc),
            "app/c.csv": csv_text,
            "app/p.parquet": (tmp_path / "x.parquet").read_bytes(),
            "app/z.jsonl.gz": gzip.compress((json.dumps(_record(id="e5")) + "\n").encode()),
        },
    )
    report = reports["app_events"]
    assert (report.read, report.loaded, report.quarantined) == (5, 5, 0)
    rows = dict(
        con.execute(
            "select event_id, (_file, _line, tenant_id, action, _unmapped) from raw.audit_events"
        ).fetchall()
    )
    assert rows["e1"][:4] == ("app/doc.json", 1, "t1", "LOGIN")
    assert rows["e2"][1] == 2
    assert rows["e3"] == ("app/c.csv", 2, "t1", "VIEW", None)  # every column is read
    assert rows["e4"] == ("app/p.parquet", 1, "t1", "EDIT", '{"colour":"red"}')
    assert rows["e5"][:4] == ("app/z.jsonl.gz", 1, "t1", "LOGIN")
    assert report.unexpected_fields()["app/p.parquet"] == ["colour"]


def test_the_lookup_decides_and_never_defaults(tmp_path: Path):
    lines = [
        _record(id="a", org={"slug": "ops"}),  # the platform's own: global, justified
        _record(id="b", org={"slug": "three"}),  # not in the lookup
        _record(id="c", org={}),  # no key
    ]
    text = "\n".join(json.dumps(r) for r in lines) + "\n"
    con, reports = _home(tmp_path, EXPRESSIONS, {"app/a.jsonl": text})
    assert con.execute(
        "select event_id, tenant_id, global_scope, scope_justification from raw.audit_events"
    ).fetchall() == [("a", None, "platform", "our own operations")]
    assert con.execute(
        "select line, reason_code, field, reason from raw.quarantine where source = 'app_events' "
        "order by line"
    ).fetchall() == [
        (
            2,
            "unknown_source_account",
            "tenant.key",
            "field tenant.key: three is not in tenant_source_accounts (lookup app_org): "
            "attributed to no tenant",
        ),
        (
            3,
            "no_tenant_context",
            "tenant.key",
            "no tenant context: tenant.key is empty, so no tenant can be looked up "
            "(No Tenant Context, No Write)",
        ),
    ]


def test_files_no_mapping_reads_are_named(tmp_path: Path):
    landing = tmp_path / "landing"
    for rel in ("audit_events/a.jsonl", "audit_events/b.json.gz", "misc/notes.txt", ".hidden"):
        (landing / rel).parent.mkdir(parents=True, exist_ok=True)
        (landing / rel).write_text("{}")
    assert unclaimed_files(landing, load_mappings(None)) == [
        "audit_events/b.json.gz: no source mapping reads it",
        "misc/notes.txt: no source mapping reads it",
    ]


# -- paths over open-ended keys --

KEYS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)


def _quoted(key: str) -> str:
    plain = set(string.ascii_letters + string.digits + "_-@$")
    if all(c in plain for c in key):
        return key
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(
    st.lists(st.one_of(KEYS, st.integers(0, 5)), min_size=1, max_size=4).filter(
        lambda s: isinstance(s[0], str)
    )
)
def test_any_key_can_be_named_in_a_path(segments):
    text = ""
    for s in segments:
        if isinstance(s, int):
            text += f"[{s}]"
        else:
            text += ("." if text else "") + _quoted(s)
    assert parse_path(text) == tuple(segments)


def _parsed_row(tmp: Path, columns: dict, record: dict) -> tuple:
    """One record through a mapping's compiled query alone (no warehouse): its mapped values
    and what it leaves unmapped."""
    import duckdb
    import yaml

    from tenantproof.ingest.parse import PARSERS, parsed_columns

    doc = {
        "name": "app_events",
        "version": 1,
        "entity": "audit_events",
        "read": [{"files": "app/**/*.jsonl", "format": "jsonl"}],
        "tenant": {"field": True},
        "columns": {"event_id": "id", "tenant_id": "t", **columns},
    }
    # escaped (\x85, \u2028 ...): YAML reads raw line breaks in a scalar as a space
    (tmp / "m.yml").write_text(yaml.safe_dump(doc, allow_unicode=False))
    mapping = load_mapping(tmp / "m.yml")
    (tmp / "a.jsonl").write_text(json.dumps(record) + "\n")
    con = duckdb.connect()
    con.execute(f"create temp table _parsed ({parsed_columns(mapping)})")
    parsed = PARSERS["jsonl"](con, mapping, mapping.reads[0], tmp / "a.jsonl", 0, None)
    assert parsed.read == 1
    return con.execute(f"select {', '.join(columns)}, _unmapped from _parsed").fetchone()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=KEYS, inner=KEYS, value=st.text(max_size=30))
def test_a_path_reads_its_value_and_leaves_the_rest_unmapped(tmp_path_factory, key, inner, value):
    """Whatever the keys (any script, dots, quotes, slashes, tildes), a mapped path reads its
    value, and the record's other fields are kept, never dropped."""
    tmp = tmp_path_factory.mktemp("p")
    path = f"{_quoted(key)}.{_quoted(inner)}"
    record = {"id": "e1", "t": "t1", key: {inner: value, "~other": 1}, "free": [1]}
    if key in ("id", "t"):
        record = {"id": "e1", "t": "t1", "x": {inner: value}} if False else record
    got, unmapped = _parsed_row(tmp, {"user_agent": path}, record)
    if key in ("id", "t", "free"):
        return  # the record itself was rewritten by the generator's key: nothing to compare
    assert got == value
    rest = json.loads(unmapped)
    expected = {"free": [1]}
    if inner != "~other":
        expected[key] = {"~other": 1}
    assert rest == expected
