"""manifest.json and validation.json: what the auditor checks a bundle against."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from exports.bundle import StagedBundle
from exports.contract import MANIFEST, VALIDATION, sha256_file
from exports.signing import ExportSigner, sign_file, signing_fields
from exports.validation import FRESHNESS_REPORT_BATCH, ValidationResult
from tenantproof.core.periods import period_bounds

# 2: each data file lists its columns, and the manifest says whether the class requires
# encryption, so that the verifier knows what it must find (exports/verify.py).
MANIFEST_VERSION = 2


def _dump(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def file_columns(path: Path) -> list[dict[str, str]] | None:
    """The columns of a staged (plaintext) data file as the manifest records them: name and
    Arrow type for Parquet, name and ``string`` for CSV; None for the other files."""
    if path.suffix == ".parquet":
        schema = pq.read_schema(path)
        return [{"name": f.name, "type": str(f.type)} for f in schema]
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        return [{"name": name, "type": "string"} for name in header]
    return None


def validation_document(
    bundle: StagedBundle, result: ValidationResult, file_rows: dict[str, int], run_id: str
) -> dict[str, Any]:
    """Counts only. Expectations ran on the run's batch of staged files; a bundle is published
    only when every one of them held on its files, so each is reported with this bundle's own
    rows and its own result (another bundle of the run may have been withheld)."""
    kinds = {name.rsplit(".", 1)[0] for name in bundle.files}
    expectations = []
    for o in result.outcomes:
        kind = o.batch.split("/")[-1]
        if kind == FRESHNESS_REPORT_BATCH:
            rows = 1  # the page
        elif kind in kinds:
            rows = file_rows[f"{kind}.parquet"] + file_rows[f"{kind}.csv"]
        elif o.suite == "row_counts":
            rows = len(bundle.files)
        else:
            continue
        if "/" in o.batch and o.batch.split("/")[0] != bundle.redaction_profile:
            continue
        success = result.passed_for(o, bundle.key)
        expectations.append(
            {
                "suite": o.suite,
                "expectation": o.expectation,
                "column": o.column,
                "file_kind": kind if kind in kinds else "all",
                "success": success,
                "rows_checked": rows,
                "unexpected_rows": 0 if success else None,
            }
        )
    return {
        "tenant_id": bundle.tenant_id,
        "period": bundle.period,
        "run_id": run_id,
        "engine": "great_expectations",
        "success": all(e["success"] for e in expectations),
        "suites": sorted({e["suite"] for e in expectations}),
        "expectations": expectations,
    }


def content_fingerprint(bundle: StagedBundle, result: ValidationResult, policy_version: str) -> str:
    """What the bundle says, independent of when it was written: the same for two exports of the
    same rows (an order-free digest of each data file, the validation's), report and policy.
    A period whose published bundle has the same fingerprint is not published again."""
    files = {}
    for name, path in sorted(bundle.files.items()):
        if name.endswith((".parquet", ".csv")):
            files[name] = result.file_digests.get(str(path), "0:0")
        else:
            files[name] = sha256_file(path)
    facts = {
        "tenant_id": bundle.tenant_id,
        "tenant_class": bundle.tenant_class,
        "residency_region": bundle.residency_region,
        "redaction_profile": bundle.redaction_profile,
        "period": bundle.period,
        "policy_version": policy_version,
        "files": files,
    }
    encoded = json.dumps(facts, sort_keys=True).encode("utf-8")
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


def published_fingerprint(target: Path) -> str | None:
    """The content fingerprint of the bundle published at ``target`` (None: none, or older)."""
    try:
        return json.loads((target / MANIFEST).read_text(encoding="utf-8")).get(
            "content_fingerprint"
        )
    except (OSError, ValueError):
        return None


def write_bundle_documents(
    bundle: StagedBundle,
    result: ValidationResult,
    file_rows: dict[str, int],
    *,
    run_id: str,
    policy_version: str,
    generated_at: datetime | None = None,
    chain: dict[str, Any] | None = None,
    signer: ExportSigner | None = None,
    fingerprint: str | None = None,
    columns: dict[str, list[dict[str, str]]] | None = None,
    encryption_required: bool = False,
) -> dict[str, Any]:
    """Write validation.json, then manifest.json over every file including it; with a signer,
    then manifest.sig over the manifest's bytes and the public key (``exports.signing``).
    ``columns``: file name -> ``file_columns`` of the plaintext (taken before encryption).
    ``chain`` (``exports.signing.chain_links``) links the manifest to the tenant's previous one."""
    _dump(bundle.path / VALIDATION, validation_document(bundle, result, file_rows, run_id))
    start, end = period_bounds(bundle.period)
    files = []
    for name, path in sorted({**bundle.files, VALIDATION: bundle.path / VALIDATION}.items()):
        files.append(
            {
                "name": name,
                "format": name.rsplit(".", 1)[1],
                "rows": file_rows.get(name),
                "bytes": path.stat().st_size,
                "sha256": sha256_file(path),
                **({"columns": columns[name]} if columns and name in columns else {}),
            }
        )
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "tenant_id": bundle.tenant_id,
        "tenant_class": bundle.tenant_class,
        "residency_region": bundle.residency_region,
        "period": {"key": bundle.period, "start": start.isoformat(), "end": end.isoformat()},
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "run_id": run_id,
        "policy_version": policy_version,
        "redaction_profile": bundle.redaction_profile,
        "encryption_required": encryption_required,
        "files": files,
        "validation": {
            "suite": "+".join(sorted({"tenant_isolation", "pii_redaction", "row_counts"})),
            "success": not result.failed_bundles([bundle.key]),
            "file": VALIDATION,
        },
    }
    if fingerprint is not None:
        manifest["content_fingerprint"] = fingerprint
    if chain is not None:
        manifest.update(chain)
    if signer is not None:
        manifest["signing"] = signing_fields(signer, MANIFEST)
    _dump(bundle.path / MANIFEST, manifest)
    if signer is not None:
        sign_file(bundle.path / MANIFEST, signer)
    return manifest
