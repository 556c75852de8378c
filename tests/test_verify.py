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

from exports import verify
from exports.signing import LocalSigningKey, sha256_file, sign_file
from tests.conftest import BuiltHome, bundle_dirs

TENANT = "t1"


def copy_tenant(built: BuiltHome, tmp_path: Path, tenant: str = TENANT) -> list[Path]:
    """Every period of one tenant, as an auditor receives them (the folder layout kept)."""
    source = next(p for p in built.home.exports.glob(f"*/{tenant}") if p.is_dir())
    target = tmp_path / "received" / source.parent.name / tenant
    shutil.copytree(source, target)
    return sorted(p for p in target.iterdir() if p.is_dir())


@pytest.fixture
def public_key(built: BuiltHome) -> bytes:
    return (built.home.exports / verify.PUBLIC_KEY).read_bytes()


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
        assert (folder / verify.SIGNATURE).stat().st_size == 64  # a raw Ed25519 signature
        assert (folder / verify.PUBLIC_KEY).read_bytes() == public_key
    key_file = built.home.keys / "export_signing_key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_each_tenants_manifests_form_a_chain(built):
    folders = [f for f in bundle_dirs(built.home) if f.parent.name == TENANT]
    assert [f.name for f in folders] == built.periods
    manifests = [json.loads((f / verify.MANIFEST).read_text()) for f in folders]
    assert manifests[0]["previous_manifest"] is None
    for earlier, later, doc in zip(folders, folders[1:], manifests[1:], strict=False):
        assert doc["previous_manifest"] == {
            "period": earlier.name,
            "sha256": sha256_file(earlier / verify.MANIFEST),
        }, later
    signing = manifests[0]["signing"]
    assert signing["algorithm"] == "Ed25519"
    assert signing["signature_file"] == verify.SIGNATURE
    # the signature and the key are not in the files list: they cannot be hashed inside it
    assert not {verify.SIGNATURE, verify.PUBLIC_KEY} & {f["name"] for f in manifests[0]["files"]}


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
    manifest = folder / verify.MANIFEST
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
    # the key shipped in the bundle swapped for another: the bundle no longer verifies either
    (folder / verify.PUBLIC_KEY).write_bytes(other)
    assert "under the export_public_key.pem shipped with it" in problems(folder, None)[0]


def test_a_bundle_re_signed_with_another_key_fails_only_against_the_platform_key(
    built, tmp_path, public_key
):
    folder = copy_tenant(built, tmp_path)[-1]
    attacker = LocalSigningKey(tmp_path / "attacker.pem")
    sign_file(folder / verify.MANIFEST, attacker)  # new signature and key, same manifest
    assert "signed with another key" in problems(folder, public_key)[0]
    # self-consistent under its own key except for the key the manifest says signed it
    assert problems(folder, None) == [
        f"manifest.json: states signing key sha256 {verify_fp(public_key)[:16]}, verified with "
        f"{verify_fp(attacker.public_key_pem())[:16]}"
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
    (folder / verify.SIGNATURE).unlink()
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
    manifest = middle / verify.MANIFEST
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
    manifest = folder / verify.MANIFEST
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
    """An auditor has this one file, pyarrow and cryptography: block everything else."""
    folder = copy_tenant(built, tmp_path)[-1]
    alone = tmp_path / "auditor" / "verify.py"
    alone.parent.mkdir()
    shutil.copy(verify.__file__, alone)
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
        "from tenantproof.cli import main\n"
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
    from tenantproof.cli import export
    from tenantproof.config import HOME_ENV, Home

    root = tmp_path / "home"
    shutil.copytree(built.home.root, root)
    monkeypatch.setenv(HOME_ENV, str(root))
    home = Home(root)
    first, middle, last = [f for f in bundle_dirs(home) if f.parent.name == TENANT]
    replaced = sha256_file(middle / verify.MANIFEST)

    export(home, [middle.name], [TENANT])

    doc = json.loads((middle / verify.MANIFEST).read_text())
    assert sha256_file(middle / verify.MANIFEST) != replaced
    assert doc["previous_manifest"] == {
        "period": first.name,
        "sha256": sha256_file(first / verify.MANIFEST),
    }
    assert doc["replaces"] == [replaced]
    reports = verify.verify_path(last.parent, public_key)
    assert [r.ok for r in reports] == [True, True, True]
    assert any("re-exported" in line for line in reports[2].checked)
