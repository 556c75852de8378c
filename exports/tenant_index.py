"""Each tenant's signed index: the head of its log of published periods.

``<region root>/<tenant_id>/index.json`` lists every period published for the tenant with the
sha256 of its manifest; its ``sequence`` grows by one each time the list changes and it records
the sha256 of the index it replaces. It is a DSSE envelope signed with the export key, written
whole (``exports.contract.TENANT_INDEX``). With it, ``verify --complete`` sees what a manifest
chain cannot: the newest period removed, a period rolled back to a superseded but validly signed
copy, a bundle that is not the one published; and an auditor's ``verify --state`` sees a whole
folder rolled back (docs/AUDITOR.md, "What the checks catch").

The index is derived from what is published, so it is reconciled whenever the tenant's folder
changes (publication, a retention purge) and by ``tenantproof doctor``: a run killed between a
bundle's swap and its index is repaired by the next one.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exports.contract import (
    INDEX_PAYLOAD_TYPE,
    INDEX_VERSION,
    MANIFEST,
    TENANT_INDEX,
    is_bundle_name,
    sha256_file,
)
from exports.signing import ExportSigner, dsse_envelope
from tenantproof.core.files import write_atomic


def published_periods(tenant_root: Path) -> dict[str, Path]:
    """period -> manifest of every bundle published under the tenant's folder."""
    if not tenant_root.is_dir():
        return {}
    return {
        folder.name: folder / MANIFEST
        for folder in sorted(tenant_root.iterdir())
        if is_bundle_name(folder.name) and (folder / MANIFEST).is_file()
    }


def read_index(tenant_root: Path) -> dict[str, Any] | None:
    """The current index's payload as the platform wrote it (the verifier checks the
    signature; the platform only needs the sequence to go on from), or None."""
    try:
        envelope = json.loads((tenant_root / TENANT_INDEX).read_text(encoding="utf-8"))
        payload = json.loads(base64.b64decode(envelope["payload"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


def update_index(
    tenant_root: Path, tenant_id: str, region: str, signer: ExportSigner, run_id: str
) -> dict[str, Any] | None:
    """Write the tenant's index when its published periods differ from the current one's; the
    payload in force (None when the tenant has no folder). Idempotent."""
    if not tenant_root.is_dir():
        return None
    periods = [
        {"period": period, "manifest_sha256": sha256_file(manifest)}
        for period, manifest in published_periods(tenant_root).items()
    ]
    current = read_index(tenant_root)
    if (
        current is not None
        and current.get("periods") == periods
        and current.get("tenant_id") == tenant_id
        and current.get("residency_region") == region
    ):
        return current
    sequence = current.get("sequence") if current is not None else 0
    payload = {
        "index_version": INDEX_VERSION,
        "tenant_id": tenant_id,
        "residency_region": region,
        "sequence": (sequence if isinstance(sequence, int) else 0) + 1,
        "previous_index_sha256": (
            sha256_file(tenant_root / TENANT_INDEX) if current is not None else None
        ),
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
        "periods": periods,
    }
    encoded = (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode("utf-8")
    envelope = dsse_envelope(encoded, INDEX_PAYLOAD_TYPE, signer)
    write_atomic(tenant_root / TENANT_INDEX, json.dumps(envelope, indent=2) + "\n")
    return payload
