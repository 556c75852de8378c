"""A kill at any point of an export leaves a folder the verifier passes after one rerun, and
what a forger would try fails verification: a bundle re-signed with another key, rows dropped,
encrypted files swapped or replaced by plaintext, a period removed or rolled back.

Every forgery is first shown to pass as published, then made, then caught; with the pinned key
and without one (a key shipped in the bundle alone never gives a pass)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports import contract, verify
from exports.leftovers import find_leftovers
from exports.publish import RETIRED_SUFFIX
from exports.signing import LocalSigningKey, sign_file, signing_fields
from orchestration.runner import export, summary
from tenantproof.core.home import PROJECT_DIR, Home
from tenantproof.core.policy import load_policy
from tenantproof.core.residency import region_roots
from tenantproof.core.settings import HOME_ENV
from tenantproof.core.warehouse import connect
from tests.conftest import AS_OF, AS_OF_ENV, BuiltHome, bundle_dirs, platform_key, settings_for

LAST = "2026-10"


def manifest(folder: Path) -> dict:
    return json.loads((folder / contract.MANIFEST).read_text())


def encrypted_tenants(home: Home) -> list[Path]:
    """Tenant folders whose class requires encryption."""
    return sorted(
        {f.parent for f in bundle_dirs(home) if manifest(f).get("encryption_required") is True}
    )


def plain_tenant(home: Home) -> Path:
    return next(
        f.parent for f in bundle_dirs(home) if manifest(f).get("encryption_required") is False
    )


def passes(path: Path, key: bytes | None, **kwargs) -> list[bool]:
    return [r.ok for r in verify.verify_path(path, key, **kwargs)]


def all_problems(path: Path, key: bytes | None, **kwargs) -> list[str]:
    return [p for r in verify.verify_path(path, key, **kwargs) for p in r.problems]


def reseal(folder: Path, signer, drop_encryption: bool = False) -> None:
    """The forger's last step: the manifest's entries made to match the files, re-signed with
    the forger's key, the shipped public key replaced by theirs."""
    doc = manifest(folder)
    for entry in doc["files"]:
        path = folder / entry["name"]
        entry["sha256"] = contract.sha256_file(path)
        entry["bytes"] = path.stat().st_size
        if drop_encryption:
            entry.pop("encrypted", None)
            entry.pop("scheme", None)
        if entry["format"] == "parquet" and not entry.get("encrypted"):
            entry["rows"] = pq.read_metadata(path).num_rows
        elif entry["format"] == "csv" and not entry.get("encrypted"):
            entry["rows"] = path.read_text().count("\n") - 1
    doc["signing"] = signing_fields(signer, contract.MANIFEST)  # a careful forger
    (folder / contract.MANIFEST).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    sign_file(folder / contract.MANIFEST, signer)


@pytest.fixture
def exports_copy(built: BuiltHome, tmp_path: Path) -> Path:
    """The published exports folder as an auditor of the whole platform receives it."""
    target = tmp_path / "received"
    shutil.copytree(built.home.exports, target)
    return target


@pytest.fixture
def attacker(tmp_path: Path) -> LocalSigningKey:
    return LocalSigningKey(tmp_path / "attacker.pem")


# -- forgeries re-signed with a fresh key --


def _drop_five_audit_rows(tenant: Path) -> Path:
    folder = sorted(p for p in tenant.iterdir() if p.is_dir())[-1]
    table = pq.read_table(folder / "audit_events.parquet")
    assert table.num_rows > 5
    pq.write_table(table.slice(5), folder / "audit_events.parquet")
    lines = (folder / "audit_events.csv").read_text().splitlines(keepends=True)
    (folder / "audit_events.csv").write_text("".join([lines[0], *lines[6:]]))
    return folder


def test_a_bundle_with_rows_dropped_and_re_signed_fails_pinned_and_unpinned(
    built, exports_copy, attacker
):
    key = platform_key(built.home)
    tenant = exports_copy / plain_tenant(built.home).relative_to(built.home.exports)
    assert all(passes(tenant, key, complete=True))
    folder = _drop_five_audit_rows(tenant)
    reseal(folder, attacker)
    (exports_copy / contract.PUBLIC_KEY).write_bytes(attacker.public_key_pem())
    pinned = verify.verify_bundle(folder, key)
    assert "was signed with another key" in pinned.problems[0]
    unpinned = verify.verify_bundle(folder, None)
    assert unpinned.problems == [verify.UNPINNED]  # everything else agrees: only the key tells
    assert verify.main([str(tenant)]) == 1
    assert verify.main([str(tenant), "--public-key", str(exports_copy / "..x")]) == 2


def test_a_bundle_only_re_signed_fails_pinned_and_unpinned(built, exports_copy, attacker):
    key = platform_key(built.home)
    folder = next(p.parent for p in sorted(exports_copy.glob("*/*/*/manifest.json")))
    assert verify.verify_bundle(folder, key).ok
    sign_file(folder / contract.MANIFEST, attacker)
    assert not verify.verify_bundle(folder, key).ok
    assert verify.UNPINNED in verify.verify_bundle(folder, None).problems
    # pinned by fingerprint only: the shipped key is now the attacker's, named
    fingerprint = verify.key_fingerprint(verify.load_public_key(key, "platform"))
    assert verify.main([str(folder), "--key-sha256", fingerprint]) == 1


def test_two_encrypted_tenants_swapped_fail_pinned_and_unpinned(built, exports_copy, attacker):
    key = platform_key(built.home)
    first, second = [
        exports_copy / t.relative_to(built.home.exports) for t in encrypted_tenants(built.home)[:2]
    ]
    a, b = first / LAST, second / LAST
    assert verify.verify_bundle(a, key).ok and verify.verify_bundle(b, key).ok
    swap = a.with_name("swap")
    a.rename(swap)
    b.rename(a)
    swap.rename(b)
    for folder in (a, b):
        reseal(folder, attacker)
    for path in (a, b):
        assert not verify.verify_bundle(path, key).ok
    for tenant in (first, second):
        problems = all_problems(tenant, None, complete=True)
        assert verify.UNPINNED in problems
        assert any("a bundle of another tenant in this folder" in p for p in problems)


def test_another_tenants_encrypted_file_in_a_bundle_is_a_clear_failure(built, tmp_path):
    """Swapped encrypted files: a named failure that never names the other tenant (no
    KeyError with its id), under the bundle's own tenant key."""
    key = platform_key(built.home)
    keys = json.loads((built.home.keys / "tenant_encryption_keys.json").read_text())
    mine, theirs = encrypted_tenants(built.home)[:2]
    folder = tmp_path / "bundle"
    shutil.copytree(mine / LAST, folder)
    for name in ("audit_events.parquet", "audit_events.csv"):
        if (theirs / LAST / name).exists():
            shutil.copy(theirs / LAST / name, folder / name)
    report = verify.verify_bundle(folder, key, keys={mine.name: keys[mine.name]})
    assert "audit_events.parquet: sha256 does not match the manifest" in report.problems
    assert any(
        p.startswith("audit_events.parquet: cannot be read")
        and "encrypted under another tenant's key" in p
        for p in report.problems
    )
    if (folder / "audit_events.csv").exists() and manifest(folder)["csv_encryption"] != "omit":
        assert any(
            p.startswith("audit_events.csv: does not decrypt with the tenant's key")
            for p in report.problems
        )
    assert not [p for p in report.problems if theirs.name in p.replace(mine.name, "")]


def test_an_encrypted_bundle_replaced_by_plaintext_fails_pinned_and_unpinned(
    built, exports_copy, attacker
):
    key = platform_key(built.home)
    victim = exports_copy / encrypted_tenants(built.home)[0].relative_to(built.home.exports)
    folder = victim / LAST
    donor = built.home.exports / plain_tenant(built.home).relative_to(built.home.exports) / LAST
    tenant = manifest(folder)["tenant_id"]
    for kind in contract.DATA_KINDS:
        table = pq.read_table(donor / f"{kind}.parquet").slice(0, 1)
        if "tenant_id" in table.column_names:
            column = pa.array([tenant] * table.num_rows, type=pa.string())
            table = table.set_column(table.column_names.index("tenant_id"), "tenant_id", column)
        pq.write_table(table, folder / f"{kind}.parquet")
        if (folder / f"{kind}.csv").exists():
            table.to_pandas().to_csv(folder / f"{kind}.csv", index=False)
    reseal(folder, attacker, drop_encryption=True)
    assert "signed with another key" in verify.verify_bundle(folder, key).problems[0]
    unpinned = verify.verify_bundle(folder, None).problems
    assert verify.UNPINNED in unpinned
    # the manifest still says the class requires encryption, so the plaintext fails by name
    assert any("requires encryption" in p for p in unpinned)


def test_the_signed_manifest_says_which_files_are_encrypted_and_their_columns(built, tmp_path):
    """Even under the platform's own key (a platform fault, not a forger): a plaintext file in
    an encrypted slot, or a column the manifest does not list, fails."""
    key = platform_key(built.home)
    platform = LocalSigningKey.for_home(built.home)
    tenant = encrypted_tenants(built.home)[0]
    folder = tmp_path / "bundle"
    shutil.copytree(tenant / LAST, folder)
    assert verify.verify_bundle(folder, key).ok
    doc = manifest(folder)
    entry = next(e for e in doc["files"] if e["name"] == "controls.parquet")
    plain = tmp_path / "plain.parquet"
    donor = plain_tenant(built.home) / LAST / "controls.parquet"
    rows = pq.read_table(donor)
    rows = pa.concat_tables([rows] * entry["rows"]).slice(0, entry["rows"])
    ids = pa.array([doc["tenant_id"]] * rows.num_rows, type=pa.string())
    rows = rows.set_column(rows.column_names.index("tenant_id"), "tenant_id", ids)
    pq.write_table(rows, plain)
    assert pq.read_metadata(plain).num_rows == entry["rows"]
    shutil.copy(plain, folder / "controls.parquet")
    entry.update(sha256=contract.sha256_file(plain), bytes=plain.stat().st_size)
    (folder / contract.MANIFEST).write_text(json.dumps(doc, indent=2, sort_keys=True))
    sign_file(folder / contract.MANIFEST, platform)
    assert "controls.parquet: plaintext, but the manifest says encrypted" in (
        verify.verify_bundle(folder, key).problems
    )
    entry.pop("encrypted")
    (folder / contract.MANIFEST).write_text(json.dumps(doc, indent=2, sort_keys=True))
    sign_file(folder / contract.MANIFEST, platform)
    assert verify.verify_bundle(folder, key).problems == [
        "controls.parquet: the tenant's class requires encryption; the file is not encrypted"
    ]
    # a schema change: one more column than the manifest lists
    clear = tmp_path / "clear"
    shutil.copytree(plain_tenant(built.home) / LAST, clear)
    table = pq.read_table(clear / "controls.parquet")
    pq.write_table(table.append_column("extra", pa.array([1] * table.num_rows)), plain)
    shutil.copy(plain, clear / "controls.parquet")
    doc = manifest(clear)
    entry = next(e for e in doc["files"] if e["name"] == "controls.parquet")
    entry.update(sha256=contract.sha256_file(plain), bytes=plain.stat().st_size)
    (clear / contract.MANIFEST).write_text(json.dumps(doc, indent=2, sort_keys=True))
    sign_file(clear / contract.MANIFEST, platform)
    assert verify.verify_bundle(clear, key).problems == [
        "controls.parquet: its columns are not the manifest's (not listed: extra)"
    ]


# -- the signed per-tenant index --


def _tenant_copy(built: BuiltHome, tmp_path: Path, tenant: Path) -> Path:
    target = tmp_path / "received" / tenant.parent.name / tenant.name
    shutil.copytree(tenant, target)
    return target


def test_the_newest_period_removed_fails_complete(built, tmp_path):
    key = platform_key(built.home)
    tenant = _tenant_copy(built, tmp_path, plain_tenant(built.home))
    assert all(passes(tenant, key, complete=True))
    shutil.rmtree(tenant / LAST)
    assert f"period(s) {LAST} listed in the signed index are missing" in all_problems(
        tenant, key, complete=True
    )
    # without --complete (an auditor holding some periods) it is a note, not a pass in silence
    reports = verify.verify_path(tenant, key)
    assert all(r.ok for r in reports)
    assert any("listed in the signed index are missing" in n for r in reports for n in r.notes)
    (tenant / contract.TENANT_INDEX).unlink()
    assert any("index.json is missing" in p for p in all_problems(tenant, key, complete=True))


def _correct_one_event(home: Home, tenant: str, period: str) -> None:
    con = connect(home.warehouse)
    try:  # a late correction: the period's content changes, so it is exported again
        con.execute(
            "update marts.fct_audit_events set reason = coalesce(reason, '') || ' (corrected)' "
            "where tenant_id = ? and period = ?",
            [tenant, period],
        )
    finally:
        con.close()


def test_a_superseded_copy_and_a_rolled_back_folder_fail(home: Home, tmp_path, monkeypatch):
    key = platform_key(home)
    tenant_root = plain_tenant(home)
    tenant = tenant_root.name
    older = tmp_path / "older"
    shutil.copytree(tenant_root, older)
    state = tmp_path / "auditor-state.json"
    pin = tmp_path / "platform.pem"
    pin.write_bytes(key)
    assert verify.main([str(home.exports), "--public-key", str(pin), "--state", str(state)]) == 0
    assert json.loads(state.read_text())["tenants"][tenant]["sequence"] == 1

    _correct_one_event(home, tenant, LAST)
    export(settings_for(home), [LAST], [tenant])
    assert verify.main([str(home.exports), "--state", str(state), "--complete"]) == 0
    assert json.loads(state.read_text())["tenants"][tenant]["sequence"] == 2

    # the superseded but validly signed copy of the period put back
    shutil.rmtree(tenant_root / LAST)
    shutil.copytree(older / LAST, tenant_root / LAST)
    assert verify.verify_bundle(tenant_root / LAST, key).ok  # alone, it is a sound bundle
    assert any("is not the bundle the index lists" in p for p in all_problems(tenant_root, key))
    # the whole folder rolled back to its older, consistent state: only the state sees it
    shutil.rmtree(tenant_root)
    shutil.copytree(older, tenant_root)
    assert all(passes(tenant_root, key, complete=True))
    assert verify.main([str(home.exports), "--state", str(state), "--complete"]) == 1
    reports = verify.verify_path(home.exports, key, complete=True, state=verify.load_state(state))
    assert any("the folder was rolled back" in p for r in reports for p in r.problems)
    # a whole tenant removed: the state knows it was there
    shutil.rmtree(tenant_root)
    reports = verify.verify_path(home.exports, key, complete=True, state=verify.load_state(state))
    assert any(f"tenant {tenant} is in the state file" in p for r in reports for p in r.problems)


def test_one_tenants_bundles_under_another_tenants_folder_fail(built, exports_copy):
    key = platform_key(built.home)
    first, second = sorted(
        {p.parent.parent for p in exports_copy.glob("*/*/*/manifest.json")}
        & {p.parent for p in exports_copy.glob("*/*/index.json")}
    )[:2]
    assert all(passes(exports_copy, key, complete=True))
    shutil.rmtree(second / LAST)
    shutil.copytree(first / LAST, second / LAST)
    problems = all_problems(exports_copy, key)
    assert f"{LAST}: a bundle of another tenant in this folder" in problems
    assert any("its tenant folder is not" in p for p in problems)
    # and a tenant's folder moved under another region
    regions = sorted(p for p in exports_copy.iterdir() if p.is_dir())
    tenant = next(p for p in regions[0].iterdir() if p.is_dir())
    tenant.rename(regions[1] / tenant.name)
    assert any("its region is" in p for p in all_problems(exports_copy, key))


# -- kills: SIGKILL at several points of a real export, then one rerun --

KILLER = """
import importlib, os, signal, sys
module, name, nth, when = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
target = importlib.import_module(module)
real = getattr(target, name)
calls = [0]
def killing(*args, **kwargs):
    calls[0] += 1
    if calls[0] == nth and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    out = real(*args, **kwargs)
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return out
setattr(target, name, killing)
from tenantproof.cli.main import main
sys.exit(main(sys.argv[5:]))
"""

KILL_POINTS = {
    "staged, before validation": ("exports.pipeline", "validate_staged", 1, "before"),
    "inside encryption": ("exports.pipeline", "encrypt_bundle", 2, "after"),
    "inside publication, the old bundle swapped out": ("exports.publish", "exchange", 2, "after"),
    "published, before the indexes": ("exports.pipeline", "update_index", 3, "before"),
}


@pytest.mark.parametrize("point", KILL_POINTS.values(), ids=KILL_POINTS.keys())
def test_an_export_killed_at_any_point_is_whole_after_one_rerun(
    home: Home, point, monkeypatch, tmp_path
):
    key = platform_key(home)
    policy = load_policy()
    tenants = sorted(p.name for p in home.exports.glob("*/*") if p.is_dir())
    for tenant in tenants:  # every bundle of the period changes: each one is replaced
        _correct_one_event(home, tenant, LAST)
    env = {**os.environ, HOME_ENV: str(home.root), AS_OF_ENV: AS_OF.isoformat()}
    script = tmp_path / "killer.py"  # a file, not -c: pyspark (imported by GE) wants __file__
    script.write_text(KILLER)
    killed = subprocess.run(
        [sys.executable, str(script), *map(str, point), "export", "--period", LAST],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # at this instant: every real name holds a whole, validly signed bundle (old or new)
    for folder in bundle_dirs(home):
        assert verify.verify_bundle(folder, key).ok, folder
    assert len(bundle_dirs(home)) == 3 * len(tenants)
    assert f"bundles: {3 * len(tenants)} published" in summary(home)

    monkeypatch.setenv(AS_OF_ENV, AS_OF.isoformat())
    export(settings_for(home), [LAST], None)

    reports = verify.verify_path(home.exports, key, complete=True)
    assert [r.target for r in reports if not r.ok] == []
    assert sum(r.kind == "bundle" for r in reports) == 3 * len(tenants)
    assert sum(r.kind == "index" for r in reports) == len(tenants)
    assert find_leftovers(home, region_roots(home, policy)) == []
    assert [p.name for p in home.staging.iterdir()] == []
    for folder in bundle_dirs(home):  # the rerun published the corrected content
        if folder.name == LAST:
            assert manifest(folder)["run_id"] != manifest(folder.parent / "2026-09")["run_id"]


def test_leftovers_of_an_older_version_are_ignored_reported_and_swept(home: Home, capsys):
    """A hidden copy of a bundle under a tenant's folder (what a kill mid-deletion left before
    bundles were swapped in one step) and a dead run's staging with plaintext: verify and the
    summary never count them, doctor reports them, the next export removes them."""
    from tenantproof.cli.main import main as cli_main

    key = platform_key(home)
    tenant_root = plain_tenant(home)
    stale = tenant_root / f".{LAST}.replaced-0123abcd"
    shutil.copytree(tenant_root / LAST, stale)
    dead = home.staging / "deadbeef-run" / "eu" / tenant_root.name / LAST
    shutil.copytree(tenant_root / LAST, dead)
    published = bundle_dirs(home)
    assert stale not in published
    reports = verify.verify_path(home.exports, key, complete=True)
    assert all(r.ok for r in reports) and stale not in [r.target for r in reports]
    assert sum(r.kind == "bundle" for r in reports) == len(published)
    assert f"bundles: {len(published)} published" in summary(home)
    assert cli_main(["--home", str(home.root), "doctor"]) == 0
    out = capsys.readouterr().out
    assert str(stale) in out and str(home.staging / "deadbeef-run") in out
    export(settings_for(home), [LAST], [tenant_root.name])
    assert not stale.exists() and not (home.staging / "deadbeef-run").exists()
    assert cli_main(["--home", str(home.root), "doctor"]) == 0
    assert "nothing left behind" in capsys.readouterr().out


def test_without_an_atomic_exchange_publication_still_leaves_nothing(home: Home, monkeypatch):
    import exports.publish as publish

    monkeypatch.setattr(publish, "exchange", lambda a, b: False)
    tenant_root = plain_tenant(home)
    _correct_one_event(home, tenant_root.name, LAST)
    monkeypatch.setenv(AS_OF_ENV, AS_OF.isoformat())
    before = contract.sha256_file(tenant_root / LAST / contract.MANIFEST)
    export(settings_for(home), [LAST], [tenant_root.name])
    assert contract.sha256_file(tenant_root / LAST / contract.MANIFEST) != before
    assert not list(home.staging.rglob(f"*{RETIRED_SUFFIX}"))
    assert all(passes(tenant_root, platform_key(home), complete=True))


def test_a_one_tenant_export_summary_names_only_that_tenant(built):
    for tenant in sorted(built.identifiers)[:3]:
        line = next(
            x for x in summary(built.home, [tenant]).splitlines() if x.strip().startswith("e.g.")
        )
        assert Path(line.split("e.g. ", 1)[1]).parent.name == tenant


# -- the index's rule over any history of publications --

periods_sets = st.lists(
    st.sets(st.sampled_from([f"2026-{m:02d}" for m in range(1, 13)]), max_size=6),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=periods_sets, salt=st.integers(0, 3))
def test_the_index_sequence_only_grows_and_chains_over_any_history(tmp_path, history, salt):
    """Whatever periods come and go (published, re-exported, purged), each change writes an
    index one higher than the last, naming the last one's sha256, that verifies against exactly
    the folder; an unchanged folder writes nothing."""
    from exports.tenant_index import read_index, update_index

    case = tmp_path / f"case-{len(list(tmp_path.iterdir()))}"
    signer = LocalSigningKey(case / "key.pem")
    tenant_root = case / "eu" / "tX"
    tenant_root.mkdir(parents=True)
    key = signer.public_key_pem()
    last_sequence, last_sha = 0, None
    for step, periods in enumerate(history):
        for old in [p for p in tenant_root.iterdir() if p.is_dir()]:
            if old.name not in periods:
                shutil.rmtree(old)
        for period in sorted(periods):
            folder = tenant_root / period
            folder.mkdir(exist_ok=True)
            if not (folder / contract.MANIFEST).exists() or (step + salt) % 2:
                doc = {"tenant_id": "tX", "residency_region": "eu", "period": {"key": period}}
                doc["run"] = step
                (folder / contract.MANIFEST).write_text(json.dumps(doc))
        before = read_index(tenant_root)
        payload = update_index(tenant_root, "tX", "eu", signer, f"run-{step}")
        listed = [e["period"] for e in payload["periods"]]
        assert listed == sorted(periods)
        if before is not None and before["periods"] == payload["periods"]:
            assert payload == before
        else:
            assert payload["sequence"] == last_sequence + 1
            assert payload["previous_index_sha256"] == last_sha
        last_sequence = payload["sequence"]
        last_sha = contract.sha256_file(tenant_root / contract.TENANT_INDEX)
        check = verify.check_index(
            tenant_root,
            [tenant_root / p for p in sorted(periods)],
            verify.Trust(public_key_pem=key),
            complete=True,
        )
        assert check.report.ok, check.report.problems
