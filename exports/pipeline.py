"""Stage -> validate -> publish, for many tenants and periods in one pass.

Nothing reaches the exports folder unless every expectation held on its exact staged files. A
bundle whose files fail one is withheld: its staged files are removed (they may hold the very
leak that was caught), a counts-only failure report is kept, and the caller's run fails naming
it; the other bundles of the run are published, each whole. No bundle is ever partial; a run
may publish some bundles and withhold others. A failure that cannot be laid at one bundle's
door (a staged file the suites cannot read) withholds them all.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from exports import scope as scoped
from exports.bundle import StagedBundle, stage_bundles
from exports.contract import MANIFEST
from exports.encryption import (
    KEY_STORE,
    FetchedKeys,
    KeyProvider,
    LocalEncryptionKeys,
    encrypt_bundle,
    requires_encryption,
    seal_manifest,
)
from exports.freshness_report import write_freshness_reports
from exports.isolation_log import record_validation_failure, watch_tenant_scope
from exports.leftovers import describe, run_staging, sweep_leftovers
from exports.manifest import (
    content_fingerprint,
    file_columns,
    published_fingerprint,
    write_bundle_documents,
)
from exports.publish import checked_target, publish
from exports.signing import ExportSigner, LocalSigningKey, chain_links, publish_public_key
from exports.tenant_index import update_index
from exports.validation import ValidationResult, unreadable_staged_files, validate_staged
from tenantproof.core.home import Home
from tenantproof.core.policy import Policy
from tenantproof.core.residency import region_roots

Log = Callable[[str], None]


class ValidationFailed(RuntimeError):
    """Some bundles of the run failed validation and were withheld; ``report`` holds what the
    run published besides."""

    def __init__(
        self, result: ValidationResult, failure_report: Path, report: ExportReport
    ) -> None:
        failed = result.failures()
        withheld = report.withheld
        super().__init__(
            f"{len(withheld)} bundle(s) withheld, failing validation: "
            + ", ".join(_bundle_name(k) for k in withheld[:20])
            + (f" and {len(withheld) - 20} more" if len(withheld) > 20 else "")
            + f"; {len(report.published)} published. Counts-only report: {failure_report}. "
            "Failed: "
            + "; ".join(f"{o.suite}:{o.expectation}({o.column}) on {o.batch}" for o in failed[:10])
        )
        self.result = result
        self.report = report


def _bundle_name(key: str) -> str:
    tenant, _, period = key.partition("|")
    return f"{tenant} {period}"


class PhaseTimer:
    """Wall seconds per phase of an export run, for the run's metadata and the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def rounded(self) -> dict[str, float]:
        return {name: round(value, 2) for name, value in self.seconds.items()}


@dataclass
class ExportReport:
    run_id: str
    published: list[Path]
    bundles: list[StagedBundle]
    validation: ValidationResult
    phase_seconds: dict[str, float] = field(default_factory=dict)
    withheld: list[str] = field(default_factory=list)  # StagedBundle.key of withheld bundles
    unchanged: list[str] = field(default_factory=list)  # ... of those already published as they are

    def rows_by_file_kind(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for b in self.bundles:
            for name, path in b.files.items():
                if name.endswith(".parquet"):
                    kind = name.removesuffix(".parquet")
                    totals[kind] = totals.get(kind, 0) + self.validation.file_rows[str(path)]
        return totals


def export_bundles(
    con: duckdb.DuckDBPyConnection,
    home: Home,
    tenants: Sequence[str],
    periods: Sequence[str],
    policy: Policy,
    run_id: str,
    log: Log = lambda message: None,
    signer: ExportSigner | None = None,
    keys: KeyProvider | None = None,
) -> ExportReport:
    """``keys``: the tenant key provider for classes whose policy requires encryption
    (``exports.encryption``); default the local key store under ``<home>/keys/``."""
    roots = region_roots(home, policy)
    swept = sweep_leftovers(home, roots, running=run_id)
    if swept:
        log(f"removed {describe(swept)}")
    # the run's staging is locked while it runs and removed when it ends, however it ends
    with run_staging(home, run_id) as staging_root:
        keys = keys or LocalEncryptionKeys(home.keys / KEY_STORE)
        timer = PhaseTimer()
        scoped.install(con)
        scope = scoped.TenantScope(con, tenants, periods)
        with watch_tenant_scope(home, run_id, scope.tenants):
            with timer.phase("stage"):
                staged = stage_bundles(scope, staging_root)
            with timer.phase("freshness_reports"):
                page_mentions = write_freshness_reports(scope, staged)
        log(
            f"staged {len(staged)} bundle(s) for {len(scope.tenants)} tenant(s) x "
            f"{len(scope.periods)} period(s)"
        )
        with timer.phase("validate"):
            try:
                result = validate_staged(scope, staged, policy, page_mentions)
            except duckdb.Error as exc:  # a staged file the suites cannot read fails them
                result = unreadable_staged_files(exc)
        withheld = result.failed_bundles(b.key for b in staged)
        tenant_regions = {b.tenant_id: b.residency_region for b in staged}
        failure_report = None
        if withheld:
            failure_report = _withhold(home, run_id, scope.tenants, result, staged, withheld)
            held = set(withheld)
            staged = [b for b in staged if b.key not in held]
            log(f"validation failed: {len(withheld)} bundle(s) withheld")
        else:
            log(f"validation passed: {len(result.outcomes)} expectation result(s)")
        published = []
        # before anything is signed or moved: residency, and the place
        targets = {b.key: checked_target(b, roots) for b in staged}
        # a retry of a published period that has not changed publishes nothing new
        fingerprints = {b.key: content_fingerprint(b, result, policy.version) for b in staged}
        unchanged = [
            b.key for b in staged if published_fingerprint(targets[b.key]) == fingerprints[b.key]
        ]
        if unchanged:
            same = set(unchanged)
            for bundle in staged:
                if bundle.key in same:
                    shutil.rmtree(bundle.path, ignore_errors=True)
            staged = [b for b in staged if b.key not in same]
            log(f"{len(unchanged)} bundle(s) unchanged since published: not published again")
        signer = signer or LocalSigningKey.for_home(home)
        publish_public_key(home.exports, signer)
        # the validated rows of every file, taken before encryption (which may leave CSVs out)
        rows_by_bundle = {
            bundle.key: {
                name: result.file_rows[str(path)]
                for name, path in bundle.files.items()
                if str(path) in result.file_rows  # data files; the freshness report has no rows
            }
            for bundle in staged
        }
        # each file's columns, before encryption; the files of one name (kind and format) are
        # written by one COPY, so they share one schema, read once
        first_files = {}
        for bundle in staged:
            for name, path in bundle.files.items():
                first_files.setdefault(name, path)
        columns = {
            name: cols
            for name, path in first_files.items()
            if (cols := file_columns(path)) is not None
        }
        with timer.phase("encrypt"):
            sealed_by_bundle = _encrypt_all(staged, policy, keys)
        run_manifests: dict[str, dict[str, Path]] = {}  # tenant -> period -> manifest of this run
        for bundle in sorted(staged, key=lambda b: (b.tenant_id, b.period)):
            file_rows = rows_by_bundle[bundle.key]
            mine = run_manifests.setdefault(bundle.tenant_id, {})
            sealed = sealed_by_bundle[bundle.key]
            with timer.phase("manifest_and_signing"):
                write_bundle_documents(
                    bundle,
                    result,
                    file_rows,
                    run_id=run_id,
                    policy_version=policy.version,
                    chain=chain_links(targets[bundle.key].parent, bundle.period, mine),
                    signer=signer,
                    fingerprint=fingerprints[bundle.key],
                    columns=columns,
                    encryption_required=requires_encryption(bundle, policy),
                )
                if sealed:
                    seal_manifest(bundle.path / MANIFEST, sealed, signer)
            mine[bundle.period] = bundle.path / MANIFEST
        with timer.phase("publish"):
            for bundle in staged:
                published.append(publish(bundle, run_id, roots))
            shutil.rmtree(staging_root, ignore_errors=True)
            # each tenant's signed index, reconciled with what is published (also for a
            # tenant whose bundles were unchanged or withheld: a killed run may have left it)
            for tenant, region in sorted(tenant_regions.items()):
                update_index(roots[region] / tenant, tenant, region, signer, run_id)
        log(
            f"published {len(published)} bundle(s) under {home.exports}; seconds per phase: "
            + ", ".join(f"{k} {v:.1f}" for k, v in timer.rounded().items())
        )
        report = ExportReport(
            run_id, published, staged, result, timer.rounded(), withheld, unchanged
        )
        if failure_report is not None:
            raise ValidationFailed(result, failure_report, report)
        return report


def _withhold(
    home: Home,
    run_id: str,
    tenants: Sequence[str],
    result: ValidationResult,
    staged: Sequence[StagedBundle],
    withheld: Sequence[str],
) -> Path:
    """Remove the withheld bundles' staged files, log an isolation incident when the isolation
    suite failed (ids and counts only), and keep a counts-only report; its path."""
    keys = set(withheld)
    for bundle in staged:
        if bundle.key in keys:
            shutil.rmtree(bundle.path, ignore_errors=True)
    record_validation_failure(home, run_id, tenants, result)
    report = home.staging / f"{run_id}.failed.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        json.dumps(
            {
                "run_id": run_id,
                **result.summary(),
                "withheld": [
                    {"tenant_id": k.partition("|")[0], "period": k.partition("|")[2]}
                    for k in withheld
                ],
                "failed": [o.__dict__ for o in result.failures()],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return report


def _encrypt_all(
    staged: Sequence[StagedBundle], policy: Policy, keys: KeyProvider
) -> dict[str, dict | None]:
    """After validation, before the manifests: every bundle whose class requires it, on a
    thread per core (pyarrow and AES release the GIL). A file that does not decrypt back to the
    validated plaintext (or a key that cannot be had) stops the run: nothing published."""
    fetched = FetchedKeys(
        {
            tenant: keys.key_for(tenant)
            for tenant in sorted({b.tenant_id for b in staged if requires_encryption(b, policy)})
        }
    )
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        sealed = pool.map(lambda b: encrypt_bundle(b, policy, fetched), staged)
        return {bundle.key: result for bundle, result in zip(staged, sealed, strict=True)}
