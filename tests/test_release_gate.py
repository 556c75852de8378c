"""The release gate of spec §7, condition by condition: the hand-written artefacts must have the
sections spec §4 lists and name the policy in force; a skipped condition is said to be skipped;
the scratch export follows the gate's seeds (a class allowed in one region only gets a tenant
there); a policy file without a column is refused by name; and a real isolation regression in
the product blocks the gate. Each test shows first that its check can fail."""

from __future__ import annotations

import csv
import re
import shutil
from functools import partial
from pathlib import Path

import pytest

from tenantproof.compliance import artefacts, release_gate
from tenantproof.core.home import PROJECT_DIR
from tenantproof.core.policy import PolicyError, load_policy
from tenantproof.demo.generate import generate, tenant_regions
from tests.conftest import FAMILIES, edit_csv, gate, seeds_copy

CLASSES = "tenant_class_policies.csv"
HAND_WRITTEN = (artefacts.TIC, artefacts.TAES, artefacts.THREAT)


def drop_column(path: Path, column: str) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    fields = [f for f in rows[0] if f != column]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def add_eu_only_class(seeds: Path, name: str = "sovereign") -> None:
    """A fourth class, allowed in the EU only, added as data (a policy row, its evidence
    freshness per family, the controls that apply to every class)."""
    with (seeds / CLASSES).open("a", encoding="utf-8") as fh:
        fh.write(
            f"{name},minimal,1095,eu,true,monthly,parquet,tenant-auditor|dpo,12,14,"
            "Sovereign DPA: EU-only processing,omit\n"
        )
    with (seeds / "freshness_by_family.csv").open("a", encoding="utf-8") as fh:
        fh.write("".join(f"{name},{family},14\n" for family in FAMILIES))
    controls = seeds / "controls.csv"
    controls.write_text(
        controls.read_text().replace(
            "standard|enterprise|regulated", f"standard|enterprise|regulated|{name}"
        )
    )


def read_tenants(home: Path) -> dict[str, tuple[str, str]]:
    with (home / "landing" / "tenants" / "tenants.csv").open(newline="") as fh:
        return {
            r["tenant_id"]: (r["tenant_class"], r["residency_region"]) for r in csv.DictReader(fh)
        }


# -- the hand-written artefacts: every §4 section, and the policy in force --


def test_the_repository_artefacts_have_every_required_section_and_no_stray_escapes(
    docs: Path,
) -> None:
    result = gate(docs)
    assert result.ok, result.reasons
    for artefact in HAND_WRITTEN:
        text = artefacts.current(docs, artefact).path.read_text(encoding="utf-8")
        _, headings = release_gate.REQUIRED_SECTIONS[artefact]
        assert release_gate.missing_sections(text, headings) == []
        assert "\\`" not in text, artefact


@pytest.mark.parametrize(
    ("artefact", "heading"),
    [
        (artefact, heading)
        for artefact in HAND_WRITTEN
        for heading in release_gate.REQUIRED_SECTIONS[artefact][1]
    ],
)
def test_the_gate_names_the_artefact_and_the_section_it_lacks(
    docs: Path, artefact: str, heading: str
) -> None:
    assert gate(docs).ok
    path = artefacts.current(docs, artefact).path
    text = path.read_text(encoding="utf-8")
    section = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.M | re.S)
    assert len(section.findall(text)) == 1
    path.write_text(section.sub("", text), encoding="utf-8")
    label = artefact.replace("__", " ").replace("-", " ")
    spec = release_gate.REQUIRED_SECTIONS[artefact][0]
    assert gate(docs).reasons == [
        f'{label} is incomplete: {path.name} has no section "{heading}" (spec {spec})'
    ]


def test_a_section_with_a_heading_but_no_text_is_incomplete(docs: Path) -> None:
    path = artefacts.current(docs, artefacts.THREAT).path
    text = path.read_text(encoding="utf-8")
    emptied = re.sub(
        r"(^## Logging leakage risks\n).*?(?=^## )", r"\1\n", text, count=1, flags=re.M | re.S
    )
    assert emptied != text
    path.write_text(emptied, encoding="utf-8")
    assert gate(docs).reasons == [
        f"Threat Model Multi Tenant Addendum is incomplete: {path.name} has an empty section "
        '"Logging leakage risks" (spec §4.5)'
    ]


@pytest.mark.parametrize("artefact", [artefacts.TAES, artefacts.THREAT])
def test_a_hand_written_artefact_naming_another_policy_version_is_stale(
    docs: Path, artefact: str
) -> None:
    path = artefacts.current(docs, artefact).path
    text = path.read_text(encoding="utf-8")
    version = load_policy().version
    assert f"Policy version: `{version}`" in text
    path.write_text(text.replace(version, "sha256:0000000000000000"), encoding="utf-8")
    label = artefact.replace("__", " ").replace("-", " ")
    assert gate(docs).reasons == [
        f"{label} is stale: {path.name} was written against policy sha256:0000000000000000, "
        f"the policy in force is {version}"
    ]


def test_the_gate_blocks_a_stale_claim_by_age_or_policy_version(docs: Path, tmp_path: Path) -> None:
    claim = artefacts.current(docs, artefacts.TIC)
    assert gate(docs, max_age_days=30).ok
    later = claim.day.replace(year=claim.day.year + 1)
    result = gate(docs, max_age_days=30, today=later)
    assert result.reasons == [
        f"Tenant Isolation Claim is stale: {claim.path.name} is "
        f"{(later - claim.day).days} days old (max 30)"
    ]
    seeds = seeds_copy(tmp_path)
    edit_csv(seeds / CLASSES, {"tenant_class": "standard"}, {"retention_days": "400"})
    artefacts.write_generated(docs, seeds)  # the matrix follows; the hand-written ones do not
    result = gate(docs, seeds_dir=seeds)
    version = load_policy(seeds).version
    stale = [
        (artefact.replace("__", " ").replace("-", " "), artefacts.current(docs, artefact).path)
        for artefact in HAND_WRITTEN
    ]
    assert result.reasons == [
        f"{label} is stale: {path.name} was written against policy {load_policy().version}, "
        f"the policy in force is {version}"
        for label, path in stale
    ]


# -- a skipped condition is reported, not passed over --


def test_a_skipped_condition_is_reported_as_skipped(
    docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tenantproof.cli.main import main

    assert main(["release-gate", "--folder", str(docs), "--skip-export", "--skip-tests"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[:2] == [
        "SKIPPED: an audit export verifies for a tenant of each class",
        "SKIPPED: cross-tenant leakage tests pass",
    ]
    assert lines[2].startswith("release gate passed with 2 condition(s) skipped: policy ")
    assert len(lines) == 3
    result = gate(docs, test_runner=None)
    assert result.ok and result.skipped == ["cross-tenant leakage tests pass"]
    artefacts.current(docs, artefacts.TAES).path.unlink()
    capsys.readouterr()
    assert main(["release-gate", "--folder", str(docs), "--skip-export", "--skip-tests"]) == 1
    out, err = capsys.readouterr()
    assert [ln.split(":")[0] for ln in out.strip().splitlines()] == ["BLOCKED"]
    assert err.strip().splitlines() == [
        "SKIPPED: an audit export verifies for a tenant of each class",
        "SKIPPED: cross-tenant leakage tests pass",
    ]


# -- residency in the generator, and the scratch export on the gate's seeds --


def test_the_demo_regions_are_unchanged_when_every_class_is_allowed_everywhere() -> None:
    classes = ["standard", "enterprise", "regulated"]
    everywhere = dict.fromkeys(classes, ["eu", "us"])
    regions, misplaced = tenant_regions(12, classes, ["eu", "us"], everywhere)
    assert regions == ["eu", "us"] * 6 and misplaced == 0
    four = [*classes, "sovereign"]
    regions, _ = tenant_regions(8, four, ["eu", "us"], {})
    assert regions == ["eu", "us", "eu", "us", "us", "eu", "us", "eu"]


def test_each_tenant_gets_a_region_its_class_allows(tmp_path: Path) -> None:
    seeds = seeds_copy(tmp_path)
    add_eu_only_class(seeds)
    generate(tmp_path / "four", tenants=4, events=200, seed=3, seeds_dir=seeds)
    tenants = read_tenants(tmp_path / "four")
    # alternating regions alone would have put the only sovereign tenant, t4, in the US
    assert tenants["t4"] == ("sovereign", "eu")
    assert {r for _, r in tenants.values()} == {"eu", "us"}
    summary = generate(tmp_path / "eight", tenants=8, events=200, seed=3, seeds_dir=seeds)
    tenants = read_tenants(tmp_path / "eight")
    # with a second sovereign tenant, the first is planted in the US for ingest to refuse
    assert (tenants["t4"], tenants["t8"]) == (("sovereign", "us"), ("sovereign", "eu"))
    assert summary.planted["region_not_allowed"] == 1
    assert "region_not_allowed" not in generate(tmp_path / "demo", tenants=12, events=200).planted


def test_the_export_probe_builds_with_the_gates_seeds_and_passes_for_a_one_region_class(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANTPROOF_AS_OF", "2026-11-15")
    seeds = seeds_copy(tmp_path)
    add_eu_only_class(seeds)
    policy = load_policy(seeds)
    assert policy.allowed_regions("sovereign") == {"eu"}
    assert policy.seeds_dir == seeds
    result = gate(docs, seeds_dir=seeds, export_probe=release_gate.scratch_export)
    assert not [r for r in result.reasons if "audit export" in r], result.reasons
    assert "an audit export verifies for a tenant of each class" in result.passed
    assert "Tenant Policy Matrix is out of date" in " ".join(result.reasons)  # the copy's seeds


# -- a policy file without a column is refused by name --


@pytest.mark.parametrize(
    ("file", "column"),
    [
        (CLASSES, "tenant_class"),
        (CLASSES, "redaction_profile"),
        (CLASSES, "allowed_regions"),
        ("redaction_rules.csv", "method"),
        ("redaction_rules.csv", "redaction_profile"),
        ("freshness_by_family.csv", "freshness_days"),
        ("regions.csv", "region"),
    ],
)
def test_a_policy_file_without_a_column_is_refused_naming_file_and_field(
    tmp_path: Path, file: str, column: str
) -> None:
    seeds = seeds_copy(tmp_path)
    assert load_policy(seeds).classes
    drop_column(seeds / file, column)
    with pytest.raises(PolicyError) as caught:
        load_policy(seeds)
    message = str(caught.value)
    assert message.startswith(f"{seeds / file}:1: field {column}: column is missing")


# -- a real isolation regression in the product blocks the gate --

IGNORED = ("*.pyc", "__pycache__", ".git", ".venv", "data", "target", "logs", ".*_cache")
SCOPE_TEST = "tests/test_scope.py::test_reading_another_tenant_through_a_scope_fails"
SCOPE_READ = "tests/test_scope.py::test_a_scope_reads_only_its_tenant"


def test_a_broken_scope_check_in_the_product_blocks_the_gate(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project is copied, its tenant scope stops refusing a read of another tenant, and the
    gate runs the copy's own isolation test of that guarantee (with one that still holds, to
    show the copy runs): it blocks, naming the test that failed."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns(*IGNORED))
    (project / "target").mkdir()
    shutil.copy(PROJECT_DIR / "target" / "manifest.json", project / "target")
    scope = project / "exports" / "scope.py"
    source = scope.read_text(encoding="utf-8")
    broken, planted = re.subn(r"^(\s+)if outside:$", r"\1if outside and False:", source, flags=re.M)
    assert planted == 1, "the scope check to break was not found"
    scope.write_text(broken, encoding="utf-8")
    monkeypatch.setenv("PYTEST_DEBUG_TEMPROOT", str(tmp_path))  # its own temporary folders
    runner = partial(release_gate.run_leakage_tests, project_dir=project)
    result = gate(docs, test_runner=runner, leakage_tests=[SCOPE_TEST, SCOPE_READ])
    assert len(result.reasons) == 1, result.reasons
    reason = result.reasons[0]
    assert reason.startswith("cross-tenant leakage tests are not passing")
    assert "1 failed, 1 passed" in reason
    assert reason.endswith(f"failing: {SCOPE_TEST}")
