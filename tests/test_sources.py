"""Real vendor logs through the shipped source mappings (docs/SOURCES.md): the samples of
``../shared/samples/`` load with exact counts per reason, their records land on the right
tenants with the values their vendors sent, and `sources check` gives the same counts."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tenantproof.core.policy import load_policy
from tenantproof.core.warehouse import connect
from tenantproof.ingest.load import ingest_source
from tenantproof.ingest.mapping import load_mappings
from tests.sample_home import (
    ACCOUNTS_CSV,
    CLOUDTRAIL,
    CLOUDTRAIL_OTRF,
    GITHUB,
    KUBERNETES,
    OKTA,
    TENANTS_CSV,
    require_samples,
    write_sample_landing,
)

# Per sample: (landing path, source, read, loaded, quarantined by reason). A count here is what
# the sample holds, checked against the field guide (../shared/samples/SOURCES.md): CloudTrail's
# Panther payloads reuse eventIDs across test cases (duplicate_in_file), Kubernetes events
# mostly carry no timestamp (missing_field occurred_at), GitHub has 27 events with neither org
# nor business (no_tenant_context 4 after the 23 of them that also lack a time or are repeats).
EXPECTED = {
    "aws_cloudtrail/panther_cloudtrail_tests.jsonl": (
        "aws_cloudtrail",
        470,
        95,
        {
            "duplicate_in_file": 235,
            "missing_field": 17,
            "no_tenant_context": 15,
            "type_error": 2,
            "unknown_source_account": 106,
        },
    ),
    "aws_cloudtrail/otrf_ec2_proxy_s3_exfiltration_2020-09-14.jsonl": (
        "aws_cloudtrail",
        103,
        103,
        {},
    ),
    "okta/tenants/initech/panther_okta_systemlog.jsonl": (
        "okta_system_log",
        84,
        33,
        {"duplicate_in_file": 38, "missing_field": 10, "type_error": 3},
    ),
    "github_audit/panther_github_audit.jsonl": (
        "github_audit",
        98,
        43,
        {
            "duplicate_in_file": 1,
            "missing_field": 30,
            "no_tenant_context": 4,
            "type_error": 4,
            "unknown_source_account": 16,
        },
    ),
    "kubernetes_audit/panther_eks_audit.jsonl": (
        "kubernetes_audit",
        184,
        3,
        {"duplicate_in_file": 1, "missing_field": 172, "no_tenant_context": 8},
    ),
}


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("samples")
    landing = home / "landing"
    write_sample_landing(landing)
    con = connect(home / "w.duckdb")
    mappings = load_mappings(None)
    policy = load_policy()
    reports = {m.name: ingest_source(con, landing, m, policy, mappings) for m in mappings}
    yield con, reports, home
    con.close()


def _counts(con, path: str) -> tuple[int, int, dict[str, int]]:
    read, loaded = con.execute(
        "select rows_read, rows_loaded from raw.file_ledger where path = ?", [path]
    ).fetchone()
    by_reason = dict(
        con.execute(
            "select reason_code, count(*) from raw.quarantine where file = ? group by 1 order by 1",
            [path],
        ).fetchall()
    )
    return read, loaded, by_reason


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_each_sample_loads_with_exact_counts_per_reason(sample_warehouse, path: str):
    con, reports, _ = sample_warehouse
    source, read, loaded, quarantined = EXPECTED[path]
    assert _counts(con, path) == (read, loaded, quarantined)
    assert read == loaded + sum(quarantined.values())
    (result,) = [f for f in reports[source].files if f.path == path]
    assert (result.read, result.loaded, result.quarantined) == (
        read,
        loaded,
        sum(quarantined.values()),
    )
    # the ledger names the mapping and the entity; every loaded row carries its lineage
    assert con.execute(
        "select source, entity from raw.file_ledger where path = ?", [path]
    ).fetchone() == (source, "audit_events")
    assert con.execute(
        "select count(*), count(distinct _source), min(_source), min(_source_version), "
        "count(_record_sha256) from raw.audit_events where _file = ?",
        [path],
    ).fetchone() == (
        loaded,
        1 if loaded else 0,
        source if loaded else None,
        1 if loaded else None,
        loaded,
    )


def _row(con, path: str, line: int) -> dict:
    rel = con.execute(
        "select * exclude (_loaded_at, _sha256) from raw.audit_events "
        "where _file = ? and _line = ?",
        [path, line],
    )
    names = [d[0] for d in rel.description]
    (row,) = rel.fetchall()
    return dict(zip(names, row, strict=True))


def _line(sample: Path, number: int) -> str:
    return sample.read_text().splitlines()[number - 1]


def test_cloudtrail_records_keep_their_vendor_values(sample_warehouse):
    con, _, _ = sample_warehouse
    path = "aws_cloudtrail/otrf_ec2_proxy_s3_exfiltration_2020-09-14.jsonl"
    row = _row(con, path, 1)
    raw = json.loads(_line(CLOUDTRAIL_OTRF, 1))
    assert row["event_id"] == raw["eventID"] == "fd4f1042-c7f6-4107-a6ee-d841d92596e7"
    # no eventTime in this capture: its Logstash @timestamp is the time
    assert "eventTime" not in raw
    assert str(row["occurred_at"]) == "2020-09-14 00:44:23"
    assert (row["tenant_id"], row["global_scope"]) == ("initech", None)
    assert row["actor_id"] == "arn:aws:iam::123456789123:user/pedro"
    assert (row["service"], row["action"], row["outcome"]) == (
        "ec2.amazonaws.com",
        "DescribeInstanceTypes",
        "success",
    )
    assert json.loads(row["details"]) == raw["requestParameters"]
    # what no expression reads is on the row, and the hash is the delivered line's
    unmapped = json.loads(row["_unmapped"])
    assert unmapped["awsRegion"] == raw["awsRegion"] and unmapped["@version"] == "1"
    assert "eventID" not in unmapped and "userIdentity" in unmapped
    assert "arn" not in unmapped["userIdentity"]  # the mapped leaf only
    import hashlib

    assert row["_record_sha256"] == hashlib.sha256(_line(CLOUDTRAIL_OTRF, 1).encode()).hexdigest()


def test_cloudtrail_errors_are_failures_and_platform_accounts_are_global(sample_warehouse):
    con, _, _ = sample_warehouse
    path = "aws_cloudtrail/panther_cloudtrail_tests.jsonl"
    failed = con.execute(
        "select count(*) from raw.audit_events where _file = ? and outcome = 'failure'", [path]
    ).fetchone()[0]
    lines = CLOUDTRAIL.read_text().splitlines()
    loaded = {
        n
        for (n,) in con.execute(
            "select _line from raw.audit_events where _file = ?", [path]
        ).fetchall()
    }
    with_error = sum(1 for n in loaded if json.loads(lines[n - 1]).get("errorCode"))
    assert failed == with_error > 0
    scopes = con.execute(
        "select global_scope, scope_justification, count(*) from raw.audit_events "
        "where _file = ? and tenant_id is null group by all",
        [path],
    ).fetchall()
    assert scopes == [("platform-security", "the platform's own security account", 13)]
    owners = {
        "123456789012": "acme",
        "111122223333": "globex",
        "123456789123": "initech",
        "111111111111": None,
    }
    attributed = dict(
        con.execute(
            "select _line, tenant_id from raw.audit_events where _file = ?", [path]
        ).fetchall()
    )
    for n in loaded:
        raw = json.loads(lines[n - 1])
        account = raw.get("recipientAccountId") or raw.get("recipientaccountid")
        assert owners[account] == attributed[n]


def test_an_unknown_account_is_quarantined_naming_the_field_and_value(sample_warehouse):
    con, _, _ = sample_warehouse
    rows = con.execute(
        "select field, reason, tenant_hint from raw.quarantine "
        "where source = 'aws_cloudtrail' and reason_code = 'unknown_source_account' "
        "and reason like '%493859302102%'"
    ).fetchall()
    assert rows and {r[0] for r in rows} == {"recipientAccountId or recipientaccountid"}
    assert rows[0][1] == (
        "field recipientAccountId or recipientaccountid: 493859302102 is not in "
        "tenant_source_accounts (lookup aws_account): attributed to no tenant"
    )
    assert {r[2] for r in rows} == {None}  # never defaulted to a tenant


def test_okta_events_belong_to_the_folder_they_were_delivered_in(sample_warehouse):
    con, _, _ = sample_warehouse
    path = "okta/tenants/initech/panther_okta_systemlog.jsonl"
    row = _row(con, path, 1)
    raw = json.loads(_line(OKTA, 1))
    assert raw["eventType"] == "user.session.impersonation.grant"
    assert row["action"] == "user.session.impersonation.grant"
    assert row["tenant_id"] == "initech"
    assert (row["actor_id"], row["actor_email"], row["actor_ip"]) == (
        "111111",
        "homer@springfield.gov",
        "1.1.1.1",
    )
    assert str(row["occurred_at"]) == "2022-03-22 14:21:53.225000"
    # no uuid in this payload: the id is the hash of the delivered record
    assert "uuid" not in raw and row["event_id"] == row["_record_sha256"]
    # lower-cased keys (eventtype) are read as the others
    lowered = [
        (n, json.loads(line))
        for n, line in enumerate(OKTA.read_text().splitlines(), start=1)
        if "eventtype" in json.loads(line) and "eventType" not in json.loads(line)
    ]
    assert lowered
    actions = dict(
        con.execute("select _line, action from raw.audit_events where _file = ?", [path]).fetchall()
    )
    shown = [(n, raw) for n, raw in lowered if n in actions]
    assert shown and all(actions[n] == raw["eventtype"] for n, raw in shown)
    outcomes = {
        r[0]
        for r in con.execute(
            "select distinct outcome from raw.audit_events where _file = ?", [path]
        ).fetchall()
    }
    assert outcomes <= {"success", "failure", "challenge", "skipped", "unknown", None}


def test_github_epoch_milliseconds_and_organisations(sample_warehouse):
    con, _, _ = sample_warehouse
    path = "github_audit/panther_github_audit.jsonl"
    row = _row(con, path, 1)
    raw = json.loads(_line(GITHUB, 1))
    assert isinstance(raw["created_at"], int)  # epoch milliseconds
    assert row["occurred_at"].timestamp() * 1000 == pytest.approx(raw["created_at"])
    assert (row["tenant_id"], row["actor_id"], row["action"]) == (
        "acme",
        raw["actor"],
        raw["action"],
    )
    assert row["resource_type"] == raw["action"].split(".")[0]
    assert row["resource_id"] == raw["repo"]
    tenants = dict(
        con.execute(
            "select coalesce(tenant_id, global_scope), count(*) from raw.audit_events "
            "where _file = ? group by 1",
            [path],
        ).fetchall()
    )
    assert tenants == {"acme": 34, "globex": 8, "platform-github": 1}


def test_kubernetes_namespaces_and_status_codes(sample_warehouse):
    con, _, _ = sample_warehouse
    path = "kubernetes_audit/panther_eks_audit.jsonl"
    loaded = con.execute(
        "select _line, tenant_id, global_scope, action, resource_type, outcome, actor_id "
        "from raw.audit_events where _file = ? order by _line",
        [path],
    ).fetchall()
    lines = KUBERNETES.read_text().splitlines()
    for n, tenant, scope, action, resource_type, outcome, actor in loaded:
        raw = json.loads(lines[n - 1])
        namespace = raw["objectRef"]["namespace"]
        assert (tenant, scope) == {
            "default": ("globex", None),
            "kube-system": (None, "platform-cluster"),
        }[namespace]
        assert action == raw["verb"] and actor == raw["user"]["username"]
        ref = raw["objectRef"]
        expected = "/".join(p for p in (ref["resource"], ref.get("subresource")) if p)
        assert resource_type == expected
        assert outcome == ("success" if raw["responseStatus"]["code"] < 400 else "failure")
    # a cluster-scoped event names no namespace: no tenant context, named
    reasons = {
        r[0]
        for r in con.execute(
            "select reason from raw.quarantine where file = ? and reason_code = "
            "'no_tenant_context'",
            [path],
        ).fetchall()
    }
    assert reasons == {
        "no tenant context: objectRef.namespace is empty, so no tenant can be looked up "
        "(No Tenant Context, No Write)"
    }


def test_a_redelivered_sample_loads_nothing_twice(sample_warehouse):
    con, _, home = sample_warehouse
    mappings = load_mappings(None)
    before = con.execute("select count(*) from raw.audit_events").fetchone()[0]
    again = [ingest_source(con, home / "landing", m, load_policy(), mappings) for m in mappings]
    assert all(f.status == "already_loaded" for r in again for f in r.files)
    assert con.execute("select count(*) from raw.audit_events").fetchone()[0] == before


def test_cloudtrail_s3_delivery_a_gzipped_records_document(tmp_path: Path):
    """CloudTrail's own S3 delivery: one gzipped JSON document {"Records": [...]}. Its records
    load as the JSON Lines sample's do, numbered from 1 in the document."""
    require_samples()
    landing = tmp_path / "landing"
    write_sample_landing(tmp_path / "unused")
    (landing / "tenants").mkdir(parents=True)
    (landing / "tenants" / "t.csv").write_text(TENANTS_CSV)
    (landing / "tenant_source_accounts").mkdir()
    (landing / "tenant_source_accounts" / "a.csv").write_text(ACCOUNTS_CSV)
    records = [json.loads(line) for line in CLOUDTRAIL_OTRF.read_text().splitlines()]
    folder = landing / "aws_cloudtrail" / "AWSLogs" / "123456789123" / "CloudTrail" / "us-east-1"
    folder.mkdir(parents=True)
    name = "123456789123_CloudTrail_us-east-1_20200914T0045Z_abc.json.gz"
    (folder / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    # a document without the array is refused whole, as one row
    (folder / "digest.json.gz").write_bytes(gzip.compress(b'{"awsAccountId": "123456789123"}'))
    (folder / "cut.json.gz").write_bytes(gzip.compress(b'{"Records": [{"a": 1}]}')[:-9])
    con = connect(tmp_path / "w.duckdb")
    mappings = load_mappings(None)
    reports = {m.name: ingest_source(con, landing, m, load_policy(), mappings) for m in mappings}
    files = {f.path.rsplit("/", 1)[-1]: f for f in reports["aws_cloudtrail"].files}
    assert (files[name].read, files[name].loaded, files[name].quarantined) == (103, 103, 0)
    assert con.execute(
        "select event_id, tenant_id, _line from raw.audit_events order by _line limit 1"
    ).fetchone() == ("fd4f1042-c7f6-4107-a6ee-d841d92596e7", "initech", 1)
    refused = dict(
        con.execute(
            "select split_part(file, '/', -1), reason from raw.quarantine where line is null"
        ).fetchall()
    )
    assert refused["digest.json.gz"] == (
        "cannot be read as json: document 1 has no records array at Records (found nothing)"
    )
    assert refused["cut.json.gz"].startswith("cannot be read as gzip")
    assert (files["digest.json.gz"].read, files["digest.json.gz"].quarantined) == (1, 1)


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tenantproof.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def lookup_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose warehouse holds the registry and the lookup, and none of the samples."""
    home = tmp_path_factory.mktemp("lookup-home")
    write_sample_landing(home / "landing")
    con = connect(home / "warehouse" / "tenantproof.duckdb")
    mappings = load_mappings(None)
    for name in ("tenants", "tenant_source_accounts"):
        (mapping,) = [m for m in mappings if m.name == name]
        ingest_source(con, home / "landing", mapping, load_policy(), mappings)
    con.close()
    return home


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_sources_check_gives_each_samples_counts(lookup_home: Path, path: str):
    """`sources check FILE --json` on the sample where it is, in ../shared/samples: the mapping
    is found from the file's folder, the home's warehouse supplies tenants and the lookup, and
    the counts are ingest's. Nothing is loaded."""
    source, read, loaded, quarantined = EXPECTED[path]
    sample = {
        "aws_cloudtrail": CLOUDTRAIL if "panther" in path else CLOUDTRAIL_OTRF,
        "okta_system_log": OKTA,
        "github_audit": GITHUB,
        "kubernetes_audit": KUBERNETES,
    }[source]
    extra = ["--tenant", "initech"] if source == "okta_system_log" else []
    out = _cli("sources", "check", str(sample), "--json", *extra, home=lookup_home)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["source"], result["read"], result["loaded"], result["quarantined"]) == (
        source,
        read,
        loaded,
        quarantined,
    )
    assert result["rows"] and all(r["event_id"] for r in result["rows"])
    con = connect(lookup_home / "warehouse" / "tenantproof.duckdb", read_only=True)
    try:
        assert con.execute("select count(*) from raw.audit_events").fetchone() == (0,)
    finally:
        con.close()


def test_sources_check_names_the_keys_missing_from_the_lookup(lookup_home: Path):
    out = _cli("sources", "check", str(GITHUB), home=lookup_home)
    assert out.returncode == 0, out.stderr
    assert "read 98, would load 43, would quarantine 55" in out.stdout
    assert "tenant keys not in tenant_source_accounts:" in out.stdout
    assert "    example-io: 5 row(s)" in out.stdout
    assert "fields no expression reads (kept as JSON): " in out.stdout


def test_an_okta_file_outside_a_tenant_folder_has_no_tenant_context(lookup_home: Path):
    out = _cli("sources", "check", str(OKTA), "--json", home=lookup_home)
    result = json.loads(out.stdout)
    assert result["loaded"] == 0
    # the 71 records with an id, a time and an action have no tenant; the rest fail before
    assert result["quarantined"] == {"missing_field": 10, "no_tenant_context": 71, "type_error": 3}
