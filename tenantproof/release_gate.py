"""The release gate of spec §7: ``tenantproof release-gate`` blocks a release (exit 1, one line
per reason) when

- the Tenant Isolation Claim is missing or stale (older than ``max_age_days``, or written
  against a policy version other than the one in force),
- the Tenant Policy Matrix (or the generated Shared Service Boundary Register) is missing,
  incomplete or out of date with the seeds,
- an audit export cannot be generated for at least one tenant of each class (tried in a scratch
  home, each bundle checked by the offline verifier),
- the multi-tenant threat model addendum (or the audit export spec) is missing,
- the cross-tenant leakage tests do not pass (they are run).

Each condition is its own function, so tests call them one at a time; the two expensive ones
(the scratch export and the pytest run) are injectable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tenantproof.artefacts import (
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
from tenantproof.config import PROJECT_DIR, SEEDS_DIR
from tenantproof.policy import Policy, PolicyError, load_policy

DEFAULT_MAX_AGE_DAYS = 180
LEAKAGE_TESTS = ("tests/test_isolation.py", "tests/test_scope.py")
ExportProbe = Callable[[Policy], dict[str, str | None]]  # class -> None (ok) or the problem
TestRunner = Callable[[Sequence[str]], tuple[bool, str]]


@dataclass
class GateResult:
    reasons: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons


def check_isolation_claim(
    folder: Path, policy: Policy, today: date, max_age_days: int
) -> list[str]:
    claim = current(folder, TIC)
    if claim is None:
        return [
            f"Tenant Isolation Claim is missing (no *__SaaS-Build__{TIC}__v*__source.md "
            f"in {folder})"
        ]
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
    named = POLICY_VERSION_RE.search(text)
    if not named:
        reasons.append(
            f"Tenant Isolation Claim is stale: {claim.path.name} names no policy version"
        )
    elif named.group(1) != policy.version:
        reasons.append(
            f"Tenant Isolation Claim is stale: {claim.path.name} was written against policy "
            f"{named.group(1)}, the policy in force is {policy.version}"
        )
    return reasons


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


def check_present(folder: Path, artefact: str) -> list[str]:
    if current(folder, artefact) is None:
        label = artefact.replace("__", " ").replace("-", " ")
        return [f"{label} is missing (no *__SaaS-Build__{artefact}__v*__source.md in {folder})"]
    return []


def run_leakage_tests(paths: Sequence[str]) -> tuple[bool, str]:
    """Run the cross-tenant leakage tests in a subprocess: (passed, last line of output)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return proc.returncode == 0, (lines[-1] if lines else proc.stderr.strip()[-200:])


def check_leakage_tests(
    paths: Sequence[str] = LEAKAGE_TESTS, runner: TestRunner = run_leakage_tests
) -> list[str]:
    passed, summary = runner(paths)
    if passed:
        return []
    return [f"cross-tenant leakage tests are not passing ({' '.join(paths)}): {summary}"]


def scratch_export(policy: Policy) -> dict[str, str | None]:
    """Generate a small home with a tenant of each class, build, export its last complete
    month and verify each bundle offline; class -> None when one of its bundles verified."""
    from exports.verify import verify_bundle
    from tenantproof.cli import build, export
    from tenantproof.config import HOME_ENV, Home
    from tenantproof.delivery import published_bundles, registry_classes
    from tenantproof.generate import generate
    from tenantproof.periods import last_complete_period

    problems: dict[str, str | None] = {
        c: "no tenant of this class was generated" for c in policy.classes
    }
    saved = os.environ.get(HOME_ENV)
    with tempfile.TemporaryDirectory(prefix="tenantproof-gate-") as tmp:
        home = Home(Path(tmp)).ensure()
        os.environ[HOME_ENV] = str(home.root)
        try:
            generate(home.root, tenants=max(len(policy.classes), 3), events=300, seed=3)
            build(home)
            export(home, [last_complete_period(date.today())], None)
            for tenant_id, (cls, _) in sorted(registry_classes(home).items()):
                if problems.get(cls) is None and cls in problems:
                    continue
                bundles = published_bundles(home, policy, tenant_id)
                if not bundles:
                    problems[cls] = f"no bundle published for tenant {tenant_id}"
                    continue
                report = verify_bundle(bundles[-1])
                problems[cls] = None if report.ok else f"bundle of {tenant_id} fails verification"
        except (Exception, SystemExit) as exc:  # the gate reports, it does not crash
            return {c: f"export failed: {exc}" for c in policy.classes}
        finally:
            if saved is None:
                os.environ.pop(HOME_ENV, None)
            else:
                os.environ[HOME_ENV] = saved
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
    """Every §7 condition; ``None`` for a probe skips it (tests of the other conditions)."""
    result = GateResult()
    try:
        policy = load_policy(seeds_dir)
    except PolicyError as exc:
        result.reasons.append(f"the policy does not load: {exc}")
        return result
    today = today or date.today()
    steps: list[tuple[str, Callable[[], list[str]]]] = [
        (
            "Tenant Isolation Claim present and current",
            lambda: check_isolation_claim(folder, policy, today, max_age_days),
        ),
        (
            "Tenant Policy Matrix and Shared Service Boundary Register match the policy data",
            lambda: check_generated_artefacts(folder, policy, seeds_dir),
        ),
        ("Tenant Audit Export Spec present", lambda: check_present(folder, TAES)),
        ("multi-tenant threat model addendum present", lambda: check_present(folder, THREAT)),
    ]
    if export_probe is not None:
        steps.append(
            (
                "an audit export verifies for a tenant of each class",
                lambda: check_exports(policy, export_probe),
            )
        )
    if test_runner is not None:
        steps.append(
            (
                "cross-tenant leakage tests pass",
                lambda: check_leakage_tests(leakage_tests, test_runner),
            )
        )
    for label, step in steps:
        reasons = step()
        if reasons:
            result.reasons.extend(reasons)
        else:
            result.passed.append(label)
    result.passed.insert(0, f"policy {policy.version}: {', '.join(sorted(policy.classes))}")
    return result
