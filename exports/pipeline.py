"""Stage -> validate -> publish, for many tenants and periods in one pass.

Nothing reaches the exports folder unless every expectation passed on the exact staged files;
on failure the staged files are removed (they may hold the very leak that was caught), a
counts-only failure report is kept, and the caller's run fails.
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
from exports.manifest import write_bundle_documents
from exports.publish import bundle_target, checked_target, publish
from exports.signing import ExportSigner, LocalSigningKey, chain_links, publish_public_key
from exports.validation import ValidationResult, unreadable_staged_files, validate_staged
from tenantproof.core.home import Home
from tenantproof.core.policy import Policy
from tenantproof.core.residency import region_roots

Log = Callable[[str], None]


class ValidationFailed(RuntimeError):
    def __init__(self, result: ValidationResult, report: Path) -> None:
        failed = result.failures()
        super().__init__(
            f"{len(failed)} expectation(s) failed; nothing was published. Counts-only report: "
            f"{report}. Failed: "
            + "; ".join(f"{o.suite}:{o.expectation}({o.column}) on {o.batch}" for o in failed[:10])
        )
        self.result = result


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
    staging_root = home.staging / run_id
    try:
        keys = keys or LocalEncryptionKeys(home.keys / KEY_STORE)
        timer = PhaseTimer()
        scoped.install(con)
        scope = scoped.TenantScope(con, tenants, periods)
        with watch_tenant_scope(home, run_id, scope.tenants):
            with timer.phase("stage"):
                staged = stage_bundles(scope, staging_root)
            with timer.phase("freshness_reports"):
                write_freshness_reports(scope, staged)
        log(
            f"staged {len(staged)} bundle(s) for {len(scope.tenants)} tenant(s) x "
            f"{len(scope.periods)} period(s)"
        )
        with timer.phase("validate"):
            try:
                result = validate_staged(scope, staged, policy)
            except duckdb.Error as exc:  # a staged file the suites cannot read fails them
                result = unreadable_staged_files(exc)
        if not result.success:
            record_validation_failure(home, run_id, scope.tenants, result)
            shutil.rmtree(staging_root, ignore_errors=True)
            report = home.staging / f"{run_id}.failed.json"
            report.write_text(
                json.dumps(
                    {
                        "run_id": run_id,
                        **result.summary(),
                        "failed": [o.__dict__ for o in result.failures()],
                    },
                    indent=2,
                ),
                encoding="utf-8",
            )
            raise ValidationFailed(result, report)
        log(f"validation passed: {len(result.outcomes)} expectation result(s)")
        published = []
        roots = region_roots(home, policy)
        for bundle in staged:  # before anything is signed or moved: residency, and the place
            checked_target(bundle, roots)
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
        with timer.phase("encrypt"):
            sealed_by_bundle = _encrypt_all(staged, policy, keys, staging_root)
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
                    chain=chain_links(bundle_target(bundle, roots).parent, bundle.period, mine),
                    signer=signer,
                )
                if sealed:
                    seal_manifest(bundle.path / MANIFEST, sealed, signer)
            mine[bundle.period] = bundle.path / MANIFEST
        with timer.phase("publish"):
            for bundle in staged:
                published.append(publish(bundle, run_id, roots))
            shutil.rmtree(staging_root, ignore_errors=True)
        log(
            f"published {len(published)} bundle(s) under {home.exports}; seconds per phase: "
            + ", ".join(f"{k} {v:.1f}" for k, v in timer.rounded().items())
        )
        return ExportReport(run_id, published, staged, result, timer.rounded())
    except BaseException:  # a failed or killed run leaves no staged file behind
        shutil.rmtree(staging_root, ignore_errors=True)
        raise


def _encrypt_all(
    staged: Sequence[StagedBundle], policy: Policy, keys: KeyProvider, staging_root: Path
) -> dict[str, dict | None]:
    """After validation, before the manifests: every bundle whose class requires it, on a
    thread per core (pyarrow and AES release the GIL). A file that does not decrypt back to the
    validated plaintext (or a key that cannot be had) stops the run: nothing published."""
    try:
        fetched = FetchedKeys(
            {
                tenant: keys.key_for(tenant)
                for tenant in sorted(
                    {b.tenant_id for b in staged if requires_encryption(b, policy)}
                )
            }
        )
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            sealed = pool.map(lambda b: encrypt_bundle(b, policy, fetched), staged)
            return {bundle.key: result for bundle, result in zip(staged, sealed, strict=True)}
    except BaseException:
        shutil.rmtree(staging_root, ignore_errors=True)
        raise
