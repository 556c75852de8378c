"""Signed, chained bundles and the offline verifier. Every tamper test first shows the
untouched copy verifying, then makes one change and shows the verifier failing with the named
problem. Tests work on copies: the session's built home is read-only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exports import contract, verify
from exports.signing import LocalSigningKey, sha256_file, sign_file
from tenantproof.core.warehouse import connect
from tests.conftest import BuiltHome, bundle_dirs, settings_for

TENANT = "t1"


def copy_tenant(
    built: BuiltHome, tmp_path: Path, tenant: str = TENANT, with_index: bool = False
) -> list[Path]:
    """Every period of one tenant, as an auditor receives them (the folder layout kept);
    without the tenant's signed index unless ``with_index`` (tests/test_crash_safety.py)."""
    source = next(p for p in built.home.exports.glob(f"*/{tenant}") if p.is_dir())
    target = tmp_path / "received" / source.parent.name / tenant
    shutil.copytree(source, target)
    if not with_index:
        (target / contract.TENANT_INDEX).unlink()
    return sorted(p for p in target.iterdir() if p.is_dir())


@pytest.fixture
def public_key(built: BuiltHome) -> bytes:
    return (built.home.exports / contract.PUBLIC_KEY).read_bytes()


def problems(folder: Path, key: bytes | None) -> list[str]:
    return verify.verify_bundle(folder, key).problems


def test_every_published_bundle_verifies_under_the_published_key(built, public_key):
    folders = bundle_dirs(built.home)
    assert folders
    for folder in folders:
        report = verify.verify_bundle(
            folder, public_key, built.foreign_identifiers(folder.parent.name)
        )
        assert report.ok, (folder, report.problems)
        assert (folder / contract.SIGNATURE).stat().st_size == 64  # a raw Ed25519 signature
        assert (folder / contract.PUBLIC_KEY).read_bytes() == public_key
    key_file = built.home.keys / "export_signing_key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_each_tenants_manifests_form_a_chain(built):
    folders = [f for f in bundle_dirs(built.home) if f.parent.name == TENANT]
    assert [f.name for f in folders] == built.periods
    manifests = [json.loads((f / contract.MANIFEST).read_text()) for f in folders]
    assert manifests[0]["previous_manifest"] is None
    for earlier, later, doc in zip(folders, folders[1:], manifests[1:], strict=False):
        assert doc["previous_manifest"] == {
            "period": earlier.name,
            "sha256": sha256_file(earlier / contract.MANIFEST),
        }, later
    signing = manifests[0]["signing"]
    assert signing["algorithm"] == "Ed25519"
    assert signing["signature_file"] == contract.SIGNATURE
    # the signature and the key are not in the files list: they cannot be hashed inside it
    assert not {contract.SIGNATURE, contract.PUBLIC_KEY} & {
        f["name"] for f in manifests[0]["files"]
    }


def test_a_changed_byte_in_a_data_file_fails(built, tmp_path, public_key):
    folder = copy_tenant(built, tmp_path)[-1]
    assert problems(folder, public_key) == []
    path = folder / "audit_events.csv"
    data = bytearray(path.read_bytes())
    at = data.index(b",", data.index(b"\n")) + 1  # the first row's period: a digit
    assert chr(data[at]).isdigit()
    data[at] = ord("3") if data[at] != ord("3") else ord("4")
    path.write_bytes(bytes(data))
    assert problems(folder, public_key) == ["audit_events.csv: sha256 does not match the manifest"]


def test_a_changed_manifest_field_fails_the_signature(built, tmp_path, public_key):
    folder = copy_tenant(built, tmp_path)[-1]
    assert problems(folder, public_key) == []
    manifest = folder / contract.MANIFEST
    doc = json.loads(manifest.read_text())
    doc["redaction_profile"] = "none"
    manifest.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    found = problems(folder, public_key)
    assert len(found) == 1
    assert found[0].startswith("manifest.sig: the signature does not match manifest.json")


def test_a_wrong_key_fails(built, tmp_path, public_key):
    folder = copy_tenant(built, tmp_path)[-1]
    assert problems(folder, public_key) == []
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    found = problems(folder, other)
    assert len(found) == 1 and "under the given public key" in found[0]
    # unpinned, even the genuine bundle under its genuine shipped key is not a pass
    assert problems(folder, None) == [verify.UNPINNED]
    # the key shipped in the bundle swapped for another: the bundle no longer verifies either
    (folder / contract.PUBLIC_KEY).write_bytes(other)
    found = problems(folder, None)
    assert found[0] == verify.UNPINNED
    assert "under the export_public_key.pem shipped beside it" in found[1]
    # pinned by its sha256 alone, the swapped key is refused by name
    pinned = verify.Trust(key_sha256=verify_fp(public_key))
    assert "not the pinned key's" in verify.verify_bundle(folder, pinned).problems[0]


def test_a_bundle_re_signed_with_another_key_fails_only_against_the_platform_key(
    built, tmp_path, public_key
):
    folder = copy_tenant(built, tmp_path)[-1]
    attacker = LocalSigningKey(tmp_path / "attacker.pem")
    sign_file(folder / contract.MANIFEST, attacker)  # new signature and key, same manifest
    assert "signed with another key" in problems(folder, public_key)[0]
    # self-consistent under its own key except for the key the manifest says signed it, and
    # never a pass without a pinned key
    assert problems(folder, None) == [
        verify.UNPINNED,
        f"manifest.json: states signing key sha256 {verify_fp(public_key)[:16]}, verified with "
        f"{verify_fp(attacker.public_key_pem())[:16]}",
    ]


def verify_fp(pem: bytes) -> str:
    return verify.key_fingerprint(verify.load_public_key(pem, "test"))


def test_a_missing_file_fails(built, tmp_path, public_key):
    folder = copy_tenant(built, tmp_path)[-1]
    assert problems(folder, public_key) == []
    (folder / "controls.parquet").unlink()
    assert problems(folder, public_key) == ["controls.parquet: listed in the manifest but missing"]


def test_a_missing_signature_fails(built, tmp_path, public_key):
    folder = copy_tenant(built, tmp_path)[-1]
    (folder / contract.SIGNATURE).unlink()
    assert problems(folder, public_key) == ["manifest.sig is missing: manifest.json is not signed"]


def test_an_extra_file_fails(built, tmp_path, public_key):
    folder = copy_tenant(built, tmp_path)[-1]
    assert problems(folder, public_key) == []
    (folder / "notes.txt").write_text("added after publication")
    assert problems(folder, public_key) == ["notes.txt: file is not in the manifest"]


def test_a_removed_link_in_the_chain_fails(built, tmp_path, public_key):
    first, middle, last = copy_tenant(built, tmp_path)
    assert [r.ok for r in verify.verify_path(last.parent, public_key)] == [True, True, True]
    shutil.rmtree(middle)
    reports = verify.verify_path(last.parent, public_key)
    assert [r.ok for r in reports] == [True, False]
    assert reports[1].problems == [
        f"chain: {last.name} links to {middle.name}, which is missing while earlier bundle(s) "
        f"{first.name} are present: a bundle of the chain was removed"
    ]


def test_a_replaced_period_fails_the_next_link(built, tmp_path, public_key):
    """Even a validly signed manifest for the middle period breaks the chain if the next
    period was issued against another one and no re-export declares the replacement."""
    _, middle, last = copy_tenant(built, tmp_path)
    assert verify.verify_bundle(last, public_key).ok
    manifest = middle / contract.MANIFEST
    linked = sha256_file(manifest)
    doc = json.loads(manifest.read_text())
    doc["generated_at"] = "2026-11-30T00:00:00+00:00"
    manifest.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    sign_file(manifest, LocalSigningKey.for_home(built.home))
    assert verify.verify_bundle(middle, public_key).ok
    assert problems(last, public_key) == [
        f"chain: {last.name} links to the {middle.name} manifest sha256 {linked[:16]}, but the "
        f"{middle.name} bundle present has {sha256_file(manifest)[:16]}: it was replaced or "
        "altered"
    ]
    # a declared, signed re-export of the middle period keeps the next link explainable
    doc["replaces"] = [linked]
    manifest.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    sign_file(manifest, LocalSigningKey.for_home(built.home))
    report = verify.verify_bundle(last, public_key)
    assert report.ok and any("re-exported" in c for c in report.checked)


def test_rows_of_another_tenant_fail_even_when_the_manifest_is_re_signed(
    built, tmp_path, public_key
):
    folder = copy_tenant(built, tmp_path)[-1]
    path = folder / "evidence.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    assert rows, "t1 has evidence in the last period"
    pq.write_table(table.from_pylist(rows + [{**rows[0], "tenant_id": "t2"}], table.schema), path)
    manifest = folder / contract.MANIFEST
    doc = json.loads(manifest.read_text())
    for entry in doc["files"]:
        if entry["name"] == "evidence.parquet":
            entry.update(sha256=sha256_file(path), bytes=path.stat().st_size)
    manifest.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    sign_file(manifest, LocalSigningKey.for_home(built.home))  # even under the platform's key
    assert problems(folder, public_key) == [
        f"evidence.parquet: {len(rows) + 1} rows, manifest says {len(rows)}",
        "evidence.parquet: 1 row(s) whose tenant_id is not t1",
    ]


def test_the_verifier_runs_alone_without_the_platform(built, tmp_path, public_key):
    """An auditor has verify.py and contract.py, pyarrow and cryptography: block everything
    else, the platform's packages included."""
    folder = copy_tenant(built, tmp_path)[-1]
    alone = tmp_path / "auditor" / "verify.py"
    alone.parent.mkdir()
    shutil.copy(verify.__file__, alone)
    shutil.copy(contract.__file__, alone.parent / "contract.py")
    key = tmp_path / "platform.pem"
    key.write_bytes(public_key)
    blocker = (
        "import importlib.abc, runpy, sys\n"
        "BLOCKED = {'duckdb', 'dagster', 'dagster_dbt', 'dbt', 'great_expectations', 'pandas',\n"
        "           'exports', 'tenantproof', 'orchestration'}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'blocked: {name}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", blocker, str(alone), str(path), "--public-key", str(key)],
            capture_output=True,
            text=True,
            cwd=alone.parent,
        )

    ok = run(folder)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("PASS  bundle") and "1 passed, 0 failed" in ok.stdout
    (folder / "notes.txt").write_text("x")
    failed = run(folder)
    assert failed.returncode == 1
    assert "problem: notes.txt: file is not in the manifest" in failed.stdout


def test_the_cli_verify_command_imports_nothing_heavy(built, tmp_path, public_key):
    folder = copy_tenant(built, tmp_path)[-1]
    key = tmp_path / "platform.pem"
    key.write_bytes(public_key)
    script = (
        "import sys\n"
        "from tenantproof.cli.main import main\n"
        f"rc = main(['verify', {str(folder)!r}, '--public-key', {str(key)!r}])\n"
        "heavy = sorted(m for m in ('duckdb', 'dagster', 'dbt', 'great_expectations')\n"
        "               if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "heavy: []" in done.stdout
    (folder / "controls.csv").write_text("tampered\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 1
    assert "controls.csv: sha256 does not match the manifest" in done.stdout


def test_a_re_exported_period_links_to_the_previous_period_and_declares_the_replaced_one(
    built, tmp_path, monkeypatch, public_key
):
    from orchestration.runner import export
    from tenantproof.core.home import Home
    from tenantproof.core.settings import HOME_ENV

    root = tmp_path / "home"
    shutil.copytree(built.home.root, root)
    monkeypatch.setenv(HOME_ENV, str(root))
    home = Home(root)
    first, middle, last = [f for f in bundle_dirs(home) if f.parent.name == TENANT]
    replaced = sha256_file(middle / contract.MANIFEST)
    export(settings_for(home), [middle.name], [TENANT])  # unchanged: not published again
    assert sha256_file(middle / contract.MANIFEST) == replaced
    con = connect(home.warehouse)
    try:  # a late correction of one of the period's events: the period is exported again
        con.execute(
            "update marts.fct_audit_events set reason = 'corrected later' where event_id = "
            "(select min(event_id) from marts.fct_audit_events where tenant_id = ? and period = ?)",
            [TENANT, middle.name],
        )
    finally:
        con.close()

    export(settings_for(home), [middle.name], [TENANT])

    doc = json.loads((middle / contract.MANIFEST).read_text())
    assert sha256_file(middle / contract.MANIFEST) != replaced
    assert doc["previous_manifest"] == {
        "period": first.name,
        "sha256": sha256_file(first / contract.MANIFEST),
    }
    assert doc["replaces"] == [replaced]
    reports = verify.verify_path(last.parent, public_key, complete=True)
    assert [r.ok for r in reports] == [True, True, True, True]
    assert any("re-exported" in line for line in reports[2].checked)
    # the tenant's signed index moved on, and lists the re-exported bundle
    assert reports[3].kind == "index" and reports[3].subject.endswith("index sequence 2")


# -- malformed manifests and certificates: named failures, never a crash --


def re_sign(path: Path, doc: object, built: BuiltHome) -> None:
    """Write a doctored document and sign it with the platform's own key: only its structure
    is wrong, so the verifier must find it there, not in the signature."""
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    sign_file(path, LocalSigningKey.for_home(built.home))


def _file_at(doc: dict, name: str) -> int:
    return next(i for i, f in enumerate(doc["files"]) if f["name"] == name)


def _drop_file_field(field: str):
    def doctor(doc: dict) -> str:
        i = _file_at(doc, "audit_events.csv")
        del doc["files"][i][field]
        return f"manifest.json: files[{i}] (audit_events.csv): {field} is missing"

    return doctor


def _set(field: str, value: object, expected: str):
    def doctor(doc: dict) -> str:
        doc[field] = value
        return expected

    return doctor


def _file_not_an_object(doc: dict) -> str:
    doc["files"][0] = doc["files"][0]["name"]
    return "manifest.json: files[0] is not an object"


def _file_outside_the_bundle(doc: dict) -> str:
    i = _file_at(doc, "controls.csv")
    doc["files"][i]["name"] = "../controls.csv"
    return f"manifest.json: files[{i}] (../controls.csv): name is not a file name inside the bundle"


MALFORMED_MANIFESTS = {
    "entry without bytes": _drop_file_field("bytes"),
    "entry without sha256": _drop_file_field("sha256"),
    "entry without rows": _drop_file_field("rows"),
    "entry not an object": _file_not_an_object,
    "entry naming a file outside the bundle": _file_outside_the_bundle,
    "period a string": _set(
        "period", "2026-10", "manifest.json: period is not an object (got '2026-10')"
    ),
    "files not a list": _set("files", {}, "manifest.json: files is not a list (got {})"),
    "previous_manifest a string": _set(
        "previous_manifest",
        "2026-09",
        "manifest.json: previous_manifest is not null or an object {period, sha256} "
        "(got '2026-09')",
    ),
    "validation not an object": _set(
        "validation", True, "manifest.json: validation is not an object (got True)"
    ),
}


@pytest.mark.parametrize("doctor", MALFORMED_MANIFESTS.values(), ids=MALFORMED_MANIFESTS.keys())
def test_a_malformed_manifest_is_a_named_failure_and_the_other_bundles_are_still_reported(
    built, tmp_path, public_key, doctor
):
    first, middle, last = copy_tenant(built, tmp_path)
    manifest = last / contract.MANIFEST
    doc = json.loads(manifest.read_text())
    expected = doctor(doc)
    re_sign(manifest, doc, built)
    reports = verify.verify_path(last.parent, public_key)
    assert [(r.target, r.ok) for r in reports] == [(first, True), (middle, True), (last, False)]
    assert reports[2].problems == [expected]
    assert verify.check_bundle(last) == [expected]


def test_the_report_goes_on_past_a_malformed_manifest(built, tmp_path, public_key, capsys):
    _, _, last = copy_tenant(built, tmp_path)
    manifest = last / contract.MANIFEST
    doc = json.loads(manifest.read_text())
    expected = _drop_file_field("sha256")(doc)
    re_sign(manifest, doc, built)
    key = tmp_path / "platform.pem"
    key.write_bytes(public_key)
    assert verify.main([str(last.parent), "--public-key", str(key)]) == 1
    out = capsys.readouterr().out
    assert out.count("PASS  bundle") == 2 and out.count("FAIL  bundle") == 1
    assert f"problem: {expected}" in out and "2 passed, 1 failed" in out


def test_a_listed_file_that_is_a_folder_is_a_named_failure(built, tmp_path, public_key):
    folder = copy_tenant(built, tmp_path)[-1]
    (folder / "controls.csv").unlink()
    (folder / "controls.csv").mkdir()
    assert problems(folder, public_key) == [
        "controls.csv/: folder is not in the manifest",
        "controls.csv: listed in the manifest as a file, but is not one",
    ]


def test_an_unforeseen_error_fails_that_bundle_alone(built, tmp_path, public_key, monkeypatch):
    first, middle, last = copy_tenant(built, tmp_path)
    check_bundle = verify.check_bundle

    def failing(folder: Path, *args, **kwargs) -> list[str]:
        if folder == middle:
            raise RuntimeError("disk went away")
        return check_bundle(folder, *args, **kwargs)

    monkeypatch.setattr(verify, "check_bundle", failing)
    reports = verify.verify_path(last.parent, public_key)
    assert [(r.target, r.ok) for r in reports] == [(first, True), (middle, False), (last, True)]
    assert reports[1].problems == ["could not be verified: RuntimeError: disk went away"]


# -- --complete: the tenant's oldest periods must be there too --


def test_a_removed_oldest_period_is_a_note_by_default_and_a_failure_with_complete(
    built, tmp_path, public_key, capsys
):
    from tenantproof.cli.main import main as cli_main

    first, middle, last = copy_tenant(built, tmp_path, with_index=True)
    tenant_folder = last.parent
    assert [r.ok for r in verify.verify_path(tenant_folder, public_key, complete=True)] == [
        True,
        True,
        True,
        True,  # the index
    ]
    shutil.rmtree(first)
    (tenant_folder / contract.TENANT_INDEX).unlink()  # the chain alone, as before the index

    reports = verify.verify_path(tenant_folder, public_key)
    assert [r.ok for r in reports] == [True, True]
    assert (
        f"chain: the previous bundle {first.name} is not here; link not checked "
        "(--complete requires it)"
    ) in reports[0].notes

    reports = verify.verify_path(tenant_folder, public_key, complete=True)
    assert [(r.target, r.ok) for r in reports] == [
        (middle, False),
        (last, True),
        (tenant_folder, False),  # --complete requires the index
    ]
    expected = (
        f"chain: tenant {TENANT}: {middle.name} links to {first.name}, which is missing, and no "
        "earlier bundle is here: the chain does not start at the tenant's first bundle "
        "(--complete)"
    )
    assert reports[0].problems == [expected]

    key = tmp_path / "platform.pem"
    key.write_bytes(public_key)
    capsys.readouterr()
    assert cli_main(["verify", str(tenant_folder), "--public-key", str(key)]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out
    assert cli_main(["verify", str(tenant_folder), "--public-key", str(key), "--complete"]) == 1
    out = capsys.readouterr().out
    assert f"problem: {expected}" in out and "1 passed, 2 failed" in out


# -- certificates: every field its kind must state, and at least one check --


@pytest.fixture
def signed_deletion_certificate(built, tmp_path) -> Path:
    """A deletion certificate as tenantproof.erasure.deletion builds it, signed with the platform
    key."""
    from tenantproof.erasure.certificates import Check, write_certificate
    from tenantproof.erasure.deletion import _certificate

    progress = {
        "tenant_id": "t9",
        "tenant_class": "standard",
        "residency_region": "eu",
        "reason": "contract ended",
        "requested_by": "dpo@platform.example",
        "requested_at": "2024-01-02T09:00:00+00:00",
        "attempts": [{"started_at": "2024-01-02T09:00:00+00:00"}],
        "before": {"raw.audit_events": {"rows": 12, "mentions": 1}},
        "landing": {"removed": {}, "rewritten": {}},
        "bundles": [{"bundle": "eu/t9/2026-10", "manifest_sha256": "ab" * 32}],
        "staged": [],
        "key_stores": ["keys/tenant_hash_keys.json"],
    }
    checks = [Check("rows of the tenant", "select count(*) ...", 0)]
    document = _certificate(progress, checks, {"raw.audit_events": {"rows": 0, "mentions": 0}})
    path = tmp_path / "deletions" / "t9" / "certificate.json"
    return write_certificate(path, document, LocalSigningKey.for_home(built.home), built.home)


@pytest.fixture
def signed_purge_record(built, tmp_path) -> Path:
    from tenantproof.core.home import Home
    from tenantproof.erasure.certificates import Check, write_purge_record

    return write_purge_record(
        Home(tmp_path / "home"),
        TENANT,
        {"raw.audit_events": (120, 20)},
        policy={"tenant_class": "standard", "retention_days": 365},
        cutoff="2025-11-01T00:00:00",
        checks=[Check("rows older than the cutoff", "select count(*) ...", 0)],
        signer=LocalSigningKey.for_home(built.home),
    )


def _without(field: str):
    def doctor(doc: dict, name: str) -> str:
        del doc[field]
        return f"{name}: missing {field}"

    return doctor


def _replace(field: str, value: object, expected: str):
    def doctor(doc: dict, name: str) -> str:
        doc[field] = value
        return expected.format(name=name)

    return doctor


# What each kind of certificate must state (tenantproof.erasure.deletion and .certificates).
DELETION_FIELDS = ("reason", "requested_by", "requested_at", "completed_at", "bundles_removed")
PURGE_FIELDS = ("policy", "cutoff", "requested_by", "purged_at")
NO_CHECK = "{name}: verification records no check (at least one is required)"
DOCTORED_DELETIONS = {
    **{f"without {f}": _without(f) for f in DELETION_FIELDS},
    "no verification check": _replace("verification", [], NO_CHECK),
    "a check not an object": _replace(
        "verification", ["rows of the tenant"], "verification[0] is not an object"
    ),
    "a table row not an object": _replace(
        "tables", ["raw.audit_events"], "tables[0] is not an object"
    ),
    "a time that is not one": _replace(
        "requested_at",
        "yesterday",
        "{name}: requested_at is not an ISO 8601 time (got 'yesterday')",
    ),
    "a removed bundle without its hash": _replace(
        "bundles_removed",
        [{"bundle": "eu/t9/2026-10"}],
        "bundles_removed[0]: manifest_sha256 is missing",
    ),
    "completed before it was requested": _replace(
        "completed_at", "2024-01-01T09:00:00+00:00", "{name}: completed_at is before requested_at"
    ),
}
DOCTORED_PURGES = {
    **{f"without {f}": _without(f) for f in PURGE_FIELDS},
    "no verification check": _replace("verification", [], NO_CHECK),
    "a policy that is not an object": _replace(
        "policy", "standard", "{name}: policy is not an object (got 'standard')"
    ),
}


def test_the_required_certificate_fields_match_what_the_platform_writes(
    signed_deletion_certificate, signed_purge_record, public_key
):
    """The fields required of each kind are ones the platform's own documents hold."""
    for path, kind, fields in (
        (signed_deletion_certificate, contract.DELETION, DELETION_FIELDS),
        (signed_purge_record, contract.PURGE, PURGE_FIELDS),
    ):
        doc = json.loads(path.read_text())
        assert set(contract.CERTIFICATE_FIELDS[kind]) == set(fields) and set(fields) <= set(doc)
        report = verify.verify_certificate(path, public_key)
        assert report.ok and report.kind == kind, report.problems


DOCTORED = [
    *(("signed_deletion_certificate", name, d) for name, d in DOCTORED_DELETIONS.items()),
    *(("signed_purge_record", name, d) for name, d in DOCTORED_PURGES.items()),
]


@pytest.mark.parametrize(
    ("certificate", "doctor"), [(c, d) for c, _, d in DOCTORED], ids=[n for _, n, _ in DOCTORED]
)
def test_a_signed_certificate_missing_what_it_must_state_fails(
    built, request, public_key, certificate, doctor
):
    path = request.getfixturevalue(certificate)
    assert verify.verify_certificate(path, public_key).ok
    doc = json.loads(path.read_text())
    expected = doctor(doc, path.name)
    re_sign(path, doc, built)
    assert verify.verify_certificate(path, public_key).problems == [expected]


def test_the_signing_key_can_live_outside_the_home(tmp_path, monkeypatch) -> None:
    from tenantproof.core.settings import SIGNING_KEY_ENV, Settings

    secret = tmp_path / "secrets" / "export.pem"
    monkeypatch.setenv(SIGNING_KEY_ENV, str(secret))
    home = Settings.from_environment(home=tmp_path / "home").home
    signer = LocalSigningKey.for_home(home)
    assert signer.path == secret
    document = tmp_path / "doc.json"
    document.write_text('{"a": 1}')
    sign_file(document, signer)
    assert secret.exists() and not (home.keys).exists(), "nothing written into the home"
    monkeypatch.delenv(SIGNING_KEY_ENV)
    home = Settings.from_environment(home=tmp_path / "home").home
    assert LocalSigningKey.for_home(home).path == home.keys / "export_signing_key.pem"
