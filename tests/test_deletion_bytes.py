"""Deletion down to the bytes (issue 13, item 5): after a certified deletion, and after a later
build, no file under the home holds the tenant's name or e-mail addresses, and none outside the
deletion's own records holds its id.

The searches here are plain byte searches written for the test (``bytes.find`` on lowercased
bytes, one boundary regex for the id), independent of ``tenantproof.erasure.bytescan``. Each is
first shown finding the tenant: before the deletion, and in a deletion whose warehouse rewrite
and Dagster scrub are skipped (which the deletion itself then refuses to certify)."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import zlib
from pathlib import Path

import dagster as dg
import pytest

import tenantproof.erasure.compaction as compaction
import tenantproof.erasure.deletion as deletion
from exports import verify
from orchestration import runner
from tenantproof.core.home import Home
from tenantproof.erasure import bytescan
from tenantproof.erasure.bytescan import BytePatterns, Exemption, scan_home
from tenantproof.erasure.deletion import delete_tenant
from tests.conftest import settings_for
from tests.test_deletion import count, home_remnants, public_key, remnants

# Regulated (encrypted bundles), named by id in another tenant's event, with e-mail addresses of
# its own; its id occurs in no dbt fixture of the repository (t1, t2, t3 and t10 do, so a later
# build's dbt artefacts hold them whatever the data), and it is three characters long, so that a
# chance match in a store's binary bytes is unlikely (a two-character id occurs several times
# per megabyte of compressed or encrypted bytes).
TENANT = "t12"


def id_pattern(tenant: str) -> re.Pattern[bytes]:
    """The id as a whole token: t1 is not found in t12, nor t12 in t12.eu (any case)."""
    word = rb"[A-Za-z0-9]"
    return re.compile(
        rb"(?<!"
        + word
        + rb")(?<!"
        + word
        + rb"[-._])"
        + re.escape(tenant.encode())
        + rb"(?!"
        + word
        + rb")(?![-._]"
        + word
        + rb")",
        re.IGNORECASE,
    )


def contacts(built, tenant: str) -> tuple[str, list[str]]:
    """The tenant's name and its own users' e-mail addresses, read from the built warehouse."""
    rows = built.query(
        """select distinct lower(actor_email) from raw.audit_events
           where tenant_id = $1 and actor_tenant_id = $1 and actor_email is not null
           union select distinct lower(actor_email) from raw.access_history
           where tenant_id = $1 and actor_tenant_id = $1 and actor_email is not null""",
        [tenant],
    )
    return built.identifiers[tenant], sorted(r[0] for r in rows)


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def is_text(data: bytes) -> bool:
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def plain_hits(root: Path, values: list[str]) -> dict[str, int]:
    """Files holding any of the values (case-insensitive), with how many of them: no file is
    exempt, the certificate and the deletion's records included."""
    needles = [v.lower().encode() for v in values]
    out = {}
    for path in files(root):
        data = path.read_bytes().lower()
        found = sum(data.find(n) != -1 for n in needles)
        if found:
            out[str(path.relative_to(root))] = found
    return out


def deletion_runs(home: Home) -> list[str]:
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        return [r.run_id for r in instance.get_runs(dg.RunsFilter(job_name="delete_tenant_job"))]


def own_records(rel: str, tenant: str, runs: list[str]) -> bool:
    """The deletion's own records, which name the tenant by id: its area, and its Dagster
    runs' event-log files and compute logs (the run's record in runs.db is checked by rows)."""
    parts = rel.split("/")
    return (
        rel.startswith(f"deletions/{tenant}/")
        or any(run in parts for run in runs)
        or any(parts[-1].startswith(f"{run}.") for run in runs)
    )


def id_hits(home: Home, tenant: str, runs: list[str]) -> dict[str, int]:
    """Matches of the id in the raw bytes and in the path of every file that is text or one of
    Dagster's SQLite stores (binary, but text cells: the id shows as written), outside the
    deletion's own records and runs.db. The other binary files (the warehouse, Parquet,
    encrypted files) are judged decoded (`remnants`, `home_remnants`): a short id occurs in
    their compressed bytes by chance."""
    pattern = id_pattern(tenant)
    out = {}
    for path in files(home.root):
        rel = str(path.relative_to(home.root))
        if own_records(rel, tenant, runs) or rel.startswith("dagster/history/runs.db"):
            continue
        data = path.read_bytes()
        judged = is_text(data) or data.startswith(b"SQLite format 3\0")
        found = len(pattern.findall(data)) if judged else 0
        found += len(pattern.findall(rel.encode()))
        if found:
            out[rel] = found
    return out


def sqlite_rows_naming(path: Path, tenant: str) -> list[tuple[str, str | None]]:
    """(table, run_id) of every row with a cell naming the id, zlib blobs decompressed."""
    pattern = id_pattern(tenant)
    con = sqlite3.connect(path)
    try:
        found = []
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            cols = [r[1] for r in con.execute(f'pragma table_info("{table}")')]
            for row in con.execute(f'select * from "{table}"'):
                cells = []
                for v in row:
                    if isinstance(v, str):
                        cells.append(v.encode())
                    elif isinstance(v, bytes):
                        try:
                            cells.append(zlib.decompress(v))
                        except zlib.error:
                            cells.append(v)
                if any(pattern.search(c) for c in cells):
                    run = row[cols.index("run_id")] if "run_id" in cols else None
                    found.append((table, run))
        return found
    finally:
        con.close()


def assert_gone(home: Home, name: str, emails: list[str]) -> None:
    """Nothing of the tenant anywhere, but its id in the records of the run that deleted it
    (an earlier, failed attempt's run is scrubbed like any other)."""
    doc = json.loads((home.deletions / TENANT / "certificate.json").read_text())
    runs = [doc["dagster_storage"]["own_run"]]
    assert runs[0] in deletion_runs(home)
    assert plain_hits(home.root, [name, *emails]) == {}
    assert id_hits(home, TENANT, runs) == {}
    # runs.db: only the deletion run's own record names it (its config)
    rows = sqlite_rows_naming(home.dagster_home / "history" / "runs.db", TENANT)
    assert {run for _, run in rows} <= set(runs), rows
    # the binary files a byte search cannot judge for a short id, decoded
    assert remnants(home, TENANT, name) == {}
    assert home_remnants(home, TENANT, name) == []
    sql = "select count(*) from raw.tenant_tombstones where tenant_id = ?"
    assert count(home, sql, [TENANT]) == 1


def test_after_a_deletion_no_byte_of_the_tenant_remains_even_after_a_later_build(home, built):
    name, emails = contacts(built, TENANT)
    assert len(emails) >= 5
    # the searches see the tenant before: its name and addresses in the warehouse's and the
    # landing files' bytes, its id in Dagster's stores (partition keys) and in dbt's artefacts
    before = plain_hits(home.root, [name, *emails])
    assert "warehouse/tenantproof.duckdb" in before and any(
        f.startswith("landing/") for f in before
    )
    found = id_hits(home, TENANT, [])
    assert "dagster/history/runs/index.db" in found
    assert any(f.startswith("dbt/") for f in found)

    certificate = runner.delete_tenant(
        settings_for(home), TENANT, "contract ended", "dpo@platform.example"
    )

    assert_gone(home, name, emails)
    assert stat.S_IMODE(home.warehouse.stat().st_mode) == 0o600
    assert not (home.warehouse.parent / compaction.COMPACTING_DIR).exists()
    assert verify.verify_certificate(certificate, public_key(home)).ok
    doc = json.loads(certificate.read_text())
    scan = doc["byte_scan"]
    assert scan["findings"] == [] and scan["files"] > 100 and scan["bytes"] > 1_000_000
    patterns = {p["kind"]: p for p in scan["patterns"]}
    assert patterns["email_address"]["values"] == len(emails)
    assert patterns["tenant_name"]["values"] == patterns["email_domain"]["values"] == 1
    assert not patterns["tenant_id"]["judged_in_binary_files"]  # 3 bytes: text files only
    exempt = {e["path"]: e for e in scan["exempt"]}
    assert exempt["warehouse/tenantproof.duckdb"]["kinds"] == ["tenant_id"]
    assert f"deletions/{TENANT}/progress.json" in exempt
    (run,) = deletion_runs(home)
    assert doc["dagster_storage"]["own_run"] == run and any(run in path for path in exempt)
    assert doc["warehouse_rewrite"]["bytes_after"] > 0
    assert doc["dagster_storage"]["stores"]["dagster/history/runs/index.db"]["rows_deleted"] > 0
    checks = {c["check"]: c for c in doc["verification"]}
    assert checks["warehouse: rows holding the tenant's e-mail addresses or domain"]["passed"]
    # the certificate and the progress record name the tenant by id only (plain_hits above)
    progress = json.loads((home.deletions / TENANT / "progress.json").read_text())
    assert progress["contacts"] == {"email_addresses": len(emails), "email_domains": 1}

    runner.build(settings_for(home))

    assert_gone(home, name, emails)
    assert any(p.is_file() for p in home.dbt_target.rglob("*"))  # the build's artefacts, scanned


def test_without_the_rewrite_and_the_scrub_the_bytes_remain_and_nothing_is_certified(
    home, built, monkeypatch
):
    """Freed blocks keep the old bytes: the warehouse not replaced by its rewrite, Dagster's
    stores not scrubbed. The independent search finds them, the deletion's own scan names the
    files and writes no certificate; a rerun with both completes."""
    name, emails = contacts(built, TENANT)
    monkeypatch.setattr(compaction, "swap_in", lambda new, target: None)
    monkeypatch.setattr(deletion, "scrub_dagster", lambda *args: {"stores": {}})
    with pytest.raises(SystemExit) as failed:
        runner.delete_tenant(settings_for(home), TENANT, "contract ended", "dpo")
    message = str(failed.value)
    assert "bytes: warehouse/tenantproof.duckdb: tenant_name in its content" in message
    assert "bytes: warehouse/tenantproof.duckdb: email_address in its content" in message
    assert "dagster: dagster/history/runs/index.db: rows naming the tenant" in message
    assert not (home.deletions / TENANT / "certificate.json").exists()
    # no row of the tenant is left for SQL to find, yet its bytes are in the file
    assert remnants(home, TENANT, name) == {}
    left = plain_hits(home.root, [name, *emails])
    assert left.get("warehouse/tenantproof.duckdb", 0) >= 5
    assert "dagster/history/runs/index.db" in id_hits(home, TENANT, deletion_runs(home))

    monkeypatch.undo()
    certificate = runner.delete_tenant(settings_for(home), TENANT, "contract ended", "dpo")
    assert verify.verify_certificate(certificate, public_key(home)).ok
    assert_gone(home, name, emails)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_deletion_killed_around_the_warehouse_replacement_completes_on_a_rerun(
    home, built, monkeypatch, when
):
    name, emails = contacts(built, TENANT)
    others = count(
        home, "select count(*) from raw.audit_events where tenant_id is distinct from ?", [TENANT]
    )
    real = compaction.swap_in

    def killed(new: Path, target: Path) -> None:
        if when == "after":
            real(new, target)
        raise RuntimeError("killed")

    monkeypatch.setattr(compaction, "swap_in", killed)
    with pytest.raises(RuntimeError, match="killed"):
        delete_tenant(home, TENANT, "contract ended", requested_by="first")
    # either file is whole: the old one with the deleted rows' bytes, or the rewrite without
    in_old = "warehouse/tenantproof.duckdb" in plain_hits(home.root, [name, *emails])
    assert in_old == (when == "before")
    assert count(
        home, "select count(*) from raw.audit_events where tenant_id is distinct from ?", [TENANT]
    ) == (others)
    assert count(home, "select count(*) from raw.audit_events where tenant_id = ?", [TENANT]) == 0

    monkeypatch.undo()
    result = delete_tenant(home, TENANT, "contract ended", requested_by="second")
    assert verify.verify_certificate(result.certificate, public_key(home)).ok
    assert [a["requested_by"] for a in result.document["attempts"]] == ["first", "second"]
    assert not (home.warehouse.parent / compaction.COMPACTING_DIR).exists()
    assert plain_hits(home.root, [name, *emails]) == {}
    assert count(home, "select count(*) from raw.audit_events") == others  # no other row lost


# -- the scan itself, on small inputs --


def test_the_byte_scan_matches_whole_ids_and_judges_short_ones_in_text_only(tmp_path, monkeypatch):
    monkeypatch.setattr(bytescan, "CHUNK", 7)  # matches across chunk boundaries count once
    root = tmp_path / "home"
    (root / "logs").mkdir(parents=True)
    (root / "logs" / "a.log").write_text("t50 t5.eu xt5 t5_x T5; mail ann@acme-co.example\n")
    # binary storage packs strings back to back: there a value is a substring, unless it is
    # inside another tenant's identifier
    (root / "logs" / "b.bin").write_bytes(b"\0\xff t5 \0retailacme corpt2\0acme corporation\0")
    (root / "logs" / "clean.txt").write_text(
        "t50, t5x, t5-eu, acme-co.examples, Acme Corporation\n"
    )
    (root / "t5").mkdir()
    (root / "t5" / "note.txt").write_text("nothing\n")
    (root / "deletions" / "t5").mkdir(parents=True)
    (root / "deletions" / "t5" / "certificate.json").write_text('{"tenant_id": "t5"}')
    patterns = BytePatterns(
        "t5", "Acme Corp", ("acme-co.example",), ("ann@acme-co.example",), ("Acme Corporation",)
    )
    exempt = [Exemption("deletions/t5/", ("tenant_id",), "the certificate names the tenant")]
    result = scan_home(root, patterns, exempt)
    found = {(f.path, f.kind, f.where): f.matches for f in result.findings}
    assert found == {
        ("logs/a.log", "tenant_id", "content"): 1,  # 'T5;' alone
        ("logs/a.log", "email_address", "content"): 1,
        ("logs/a.log", "email_domain", "content"): 1,
        ("logs/b.bin", "tenant_name", "content"): 1,  # long enough to be judged in binary
        ("t5/note.txt", "tenant_id", "path"): 1,
    }
    assert result.unjudged == {"logs": 1}  # 't5' in the binary file: counted, not judged
    assert result.exempt_matches == {"deletions/t5/": {"tenant_id": 2}}  # content and path
    assert (result.text_files, result.binary_files) == (4, 1)
    redacted = patterns.redact(b"T5 and t50, ann@acme-co.example", b"[x]")
    assert redacted == b"[x] and t50, [x]"
