"""The release gate of spec §7: ``tenantproof release-gate`` blocks a release (exit 1, one line
per reason) when

- the Tenant Isolation Claim is missing or stale (older than ``max_age_days``, or written
  against a policy version other than the one in force),
- the Tenant Policy Matrix (or the generated Shared Service Boundary Register) is missing,
  incomplete or out of date with the seeds,
- an audit export cannot be generated for at least one tenant of each class (tried in a scratch
  home built from the same seeds, each bundle checked by the offline verifier),
- the multi-tenant threat model addendum (or the audit export spec) is missing,
- the cross-tenant leakage tests do not pass (they are run).

A hand-written artefact (the claim, the export spec, the threat model addendum) must also have
every section spec §4 lists for it, and one that names a policy version must name the one in
force, since any change to the seeds may falsify what it says.

Each condition is its own function, so tests call them one at a time; the two expensive ones
(the scratch export and the pytest run) are injectable, and a skipped one is reported as such.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tenantproof.compliance.artefacts import (
    CLAIM_DATE_RE,
    COMPLIANCE_DIR,
    GENERATED,
    MATRIX_POLICIES,
    POLICY_VERSION_RE,
    TAES,
    THREAT,
    TIC,
    TPM,
    current,
    generated_content,
)
from tenantproof.core.home import PROJECT_DIR, SEEDS_DIR
from tenantproof.core.policy import Policy, PolicyError, load_policy

DEFAULT_MAX_AGE_DAYS = 180
LEAKAGE_TESTS = ("tests/test_isolation.py", "tests/test_scope.py")
ExportProbe = Callable[[Policy], dict[str, str | None]]  # class -> None (ok) or the problem
TestRunner = Callable[[Sequence[str]], tuple[bool, str]]
# The sections spec §4 requires of each hand-written artefact, as its level-2 headings.
REQUIRED_SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    TIC: (
        "§4.1",
        (
            "Chosen tenancy model",
            "Enforceable guarantees",
            "Known limitations",
            "Test evidence plan",
        ),
    ),
    TAES: (
        "§4.3",
        (
            "Required export formats",
            "Contents list",
            "Evidence sources",
            "Redaction rules",
            "Shared-service evidence inclusion rules",
        ),
    ),
    THREAT: (
        "§4.5",
        (
            "Cross-tenant data exposure risks",
            "Auth boundary failure modes",
            "Admin privilege risks",
            "Logging leakage risks",
            "Shared-service compromise blast radius",
        ),
    ),
}
# The dbt project a scratch build copies when its seeds are not the project's own.
DBT_PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "data-tests", "profiles")
HEADING_RE = re.compile(r"^##[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)


@dataclass
class GateResult:
    reasons: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # conditions not checked on this run

    @property
    def ok(self) -> bool:
        return not self.reasons


def _label(artefact: str) -> str:
    return artefact.replace("__", " ").replace("-", " ")


def missing_sections(text: str, required: Sequence[str]) -> list[tuple[str, str]]:
    """(heading, problem) for each required section that is absent or has no text."""
    bodies: dict[str, str] = {}
    found = list(HEADING_RE.finditer(text))
    for i, m in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        key = " ".join(m.group(1).split()).casefold()
        bodies[key] = bodies.get(key, "") + text[m.end() : end]
    out = []
    for heading in required:
        body = bodies.get(" ".join(heading.split()).casefold())
        if body is None:
            out.append((heading, "has no section"))
        elif not body.strip():
            out.append((heading, "has an empty section"))
    return out


def check_hand_written(folder: Path, artefact: str, policy: Policy) -> list[str]:
    """A hand-written artefact is present, has every section spec §4 requires of it and, if
    it names a policy version, names the one in force."""
    found = current(folder, artefact)
    label = _label(artefact)
    if found is None:
        return [f"{label} is missing (no *__SaaS-Build__{artefact}__v*__source.md in {folder})"]
    text = found.path.read_text(encoding="utf-8")
    spec, headings = REQUIRED_SECTIONS[artefact]
    reasons = [
        f'{label} is incomplete: {found.path.name} {problem} "{heading}" (spec {spec})'
        for heading, problem in missing_sections(text, headings)
    ]
    named = POLICY_VERSION_RE.search(text)
    if named and named.group(1) != policy.version:
        reasons.append(
            f"{label} is stale: {found.path.name} was written against policy "
            f"{named.group(1)}, the policy in force is {policy.version}"
        )
    return reasons


def check_isolation_claim(
    folder: Path, policy: Policy, today: date, max_age_days: int
) -> list[str]:
    """The claim is also dated and must name a policy version (the others may)."""
    claim = current(folder, TIC)
    if claim is None:
        return check_hand_written(folder, TIC, policy)
    text = claim.path.read_text(encoding="utf-8")
    reasons = []
    dated = CLAIM_DATE_RE.search(text)
    day = date.fromisoformat(dated.group(1)) if dated else claim.day
    age = (today - day).days
    if age > max_age_days:
        reasons.append(
            f"Tenant Isolation Claim is stale: {claim.path.name} is {age} days old "
            f"(max {max_age_days})"
        )
    if not POLICY_VERSION_RE.search(text):
        reasons.append(
            f"Tenant Isolation Claim is stale: {claim.path.name} names no policy version"
        )
    return reasons + check_hand_written(folder, TIC, policy)


def check_generated_artefacts(folder: Path, policy: Policy, seeds_dir: Path) -> list[str]:
    """The matrix (and the register) must equal what the seeds generate, and state every
    policy of every class."""
    reasons = []
    expected = generated_content(policy, seeds_dir)
    for artefact in GENERATED:
        found = current(folder, artefact)
        label = artefact.replace("-", " ")
        if found is None:
            reasons.append(f"{label} is missing: run `tenantproof artefacts`")
            continue
        text = found.path.read_text(encoding="utf-8")
        if artefact == TPM:
            for cls in sorted(policy.classes):
                section = text.split(f"## Class `{cls}`", 1)
                if len(section) < 2:
                    reasons.append(f"{label} is incomplete: class {cls} is missing")
                    continue
                body = section[1].split("\n## ", 1)[0]
                for item in MATRIX_POLICIES:
                    if f"| {item} |" not in body:
                        reasons.append(f"{label} is incomplete: class {cls} has no {item}")
        if text != expected[artefact]:
            reasons.append(
                f"{label} is out of date with the policy data ({found.path.name}): run "
                "`tenantproof artefacts`"
            )
    return reasons


def run_leakage_tests(paths: Sequence[str], project_dir: Path = PROJECT_DIR) -> tuple[bool, str]:
    """Run the cross-tenant leakage tests of a project tree (this one by default) in a
    subprocess: (passed, pytest's last line and the tests that failed)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *paths],
        cwd=project_dir,
        capture_output=True,
        text=True,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    summary = lines[-1] if lines else proc.stderr.strip()[-200:]
    failing = [
        ln.split()[1].split(" - ")[0]
        for ln in lines
        if ln.startswith(("FAILED ", "ERROR ")) and len(ln.split()) > 1
    ]
    if failing:
        summary += "; failing: " + ", ".join(dict.fromkeys(failing))
    return proc.returncode == 0, summary


def check_leakage_tests(
    paths: Sequence[str] = LEAKAGE_TESTS, runner: TestRunner = run_leakage_tests
) -> list[str]:
    passed, summary = runner(paths)
    if passed:
        return []
    return [f"cross-tenant leakage tests are not passing ({' '.join(paths)}): {summary}"]


def _scratch_project(policy: Policy, folder: Path) -> Path | None:
    """The dbt project a scratch build with the policy's seeds runs: None for the project
    itself, or, when the seeds are elsewhere, a copy of it in ``folder`` whose seeds are those."""
    seeds = policy.seeds_dir.resolve()
    if seeds == SEEDS_DIR.resolve():
        return None
    folder.mkdir(parents=True)
    for name in DBT_PROJECT_PARTS:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy2(source, folder / name)
    shutil.copytree(seeds, folder / "seeds")
    return folder


def scratch_export(policy: Policy) -> dict[str, str | None]:
    """Generate a small home with a tenant of each class from the policy's own seeds, build it
    with those seeds, export its last complete month and verify each bundle offline; class ->
    None when one of its bundles verified. The scratch run's settings read no environment: a
    configured region root, signing key or as-of time of this process is not used, so nothing
    is written outside the scratch folder and the production key never signs a scratch
    bundle."""
    from exports.delivery import published_bundles, registry_classes
    from exports.signing import LocalSigningKey
    from exports.verify import verify_bundle
    from orchestration import runner
    from orchestration.resources import build_resources
    from tenantproof.core.periods import last_complete_period
    from tenantproof.core.settings import Settings
    from tenantproof.demo.generate import generate

    problems: dict[str, str | None] = {
        c: "no tenant of this class was generated" for c in policy.classes
    }
    with tempfile.TemporaryDirectory(prefix="tenantproof-gate-") as tmp:
        settings = Settings.resolve(home=Path(tmp) / "home", environ={}, seeds_dir=policy.seeds_dir)
        home = settings.home.ensure()
        try:
            generate(
                home.root,
                tenants=max(len(policy.classes), 3),
                events=300,
                seed=3,
                seeds_dir=policy.seeds_dir,
            )
            resources = build_resources(
                settings, _scratch_project(policy, Path(tmp) / "project"), policy.seeds_dir
            )
            # what `tenantproof build` and `export` run, with the scratch resources
            runner.build(settings, resources)
            runner.export(settings, [last_complete_period(date.today())], None, resources)
            for tenant_id, (cls, _) in sorted(registry_classes(home).items()):
                if problems.get(cls) is None and cls in problems:
                    continue
                bundles = published_bundles(home, policy, tenant_id)
                if not bundles:
                    problems[cls] = f"no bundle published for tenant {tenant_id}"
                    continue
                report = verify_bundle(bundles[-1], LocalSigningKey.for_home(home).public_key_pem())
                problems[cls] = None if report.ok else f"bundle of {tenant_id} fails verification"
        except (Exception, SystemExit) as exc:  # the gate reports, it does not crash
            return {c: f"export failed: {exc}" for c in policy.classes}
    return problems


def check_exports(policy: Policy, probe: ExportProbe = scratch_export) -> list[str]:
    return [
        f"an audit export cannot be generated for class {cls}: {problem}"
        for cls, problem in sorted(probe(policy).items())
        if problem
    ]


def release_gate(
    *,
    folder: Path = COMPLIANCE_DIR,
    seeds_dir: Path = SEEDS_DIR,
    today: date | None = None,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    export_probe: ExportProbe | None = scratch_export,
    test_runner: TestRunner | None = run_leakage_tests,
    leakage_tests: Sequence[str] = LEAKAGE_TESTS,
) -> GateResult:
    """Every §7 condition; ``None`` for a probe skips it, and the result says so."""
    result = GateResult()
    try:
        policy = load_policy(seeds_dir)
    except PolicyError as exc:
        result.reasons.append(f"the policy does not load: {exc}")
        return result
    today = today or date.today()
    steps: list[tuple[str, Callable[[], list[str]]]] = [
        (
            "Tenant Isolation Claim present, complete and current",
            lambda: check_isolation_claim(folder, policy, today, max_age_days),
        ),
        (
            "Tenant Policy Matrix and Shared Service Boundary Register match the policy data",
            lambda: check_generated_artefacts(folder, policy, seeds_dir),
        ),
        (
            "Tenant Audit Export Spec present and complete",
            lambda: check_hand_written(folder, TAES, policy),
        ),
        (
            "multi-tenant threat model addendum present and complete",
            lambda: check_hand_written(folder, THREAT, policy),
        ),
    ]
    export_label = "an audit export verifies for a tenant of each class"
    if export_probe is not None:
        steps.append((export_label, lambda: check_exports(policy, export_probe)))
    else:
        result.skipped.append(export_label)
    tests_label = "cross-tenant leakage tests pass"
    if test_runner is not None:
        steps.append((tests_label, lambda: check_leakage_tests(leakage_tests, test_runner)))
    else:
        result.skipped.append(tests_label)
    for label, step in steps:
        reasons = step()
        if reasons:
            result.reasons.extend(reasons)
        else:
            result.passed.append(label)
    result.passed.insert(0, f"policy {policy.version}: {', '.join(sorted(policy.classes))}")
    return result
