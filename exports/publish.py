"""Atomic publication of validated bundles (DESIGN principle 4).

A bundle moves from staging to ``<exports>/<region>/<tenant_id>/<period>/`` by one rename on
the same file system, so a reader sees the whole bundle or none of it. A bundle that replaces an
earlier export of the same period is swapped in the same way, the old one removed after.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from exports.bundle import StagedBundle
from exports.scope import CrossTenantAccess


def bundle_target(
    exports_root: Path, bundle: StagedBundle, roots: Mapping[str, Path] | None = None
) -> Path:
    """``<region root>/<tenant>/<period>``; the region root is ``<exports>/<region>`` unless
    ``roots`` (tenantproof.residency.region_roots) configures it elsewhere."""
    region_root = (roots or {}).get(bundle.residency_region, exports_root / bundle.residency_region)
    return region_root / bundle.tenant_id / bundle.period


def checked_target(
    bundle: StagedBundle, exports_root: Path, roots: Mapping[str, Path] | None = None
) -> Path:
    """The bundle's target, refused unless it lies exactly at ``<its region root>/<tenant>/
    <period>`` and (given ``roots``) no other region's root holds it. The region's root is
    resolved on its own, not from the target: a tenant id or period that is not one plain path
    segment ("../us/t9") or a linked folder cannot move the bundle into another region."""
    target = bundle_target(exports_root, bundle, roots)
    if roots is not None:
        from tenantproof.residency import check_residency

        check_residency(target, bundle.tenant_id, bundle.residency_region, roots)
    region_root = (
        (roots or {}).get(bundle.residency_region, exports_root / bundle.residency_region)
    ).resolve()
    plain = all(
        part and part not in (".", "..") and "/" not in part and os.sep not in part
        for part in (bundle.tenant_id, bundle.period)
    )
    if not plain or target.resolve() != region_root / bundle.tenant_id / bundle.period:
        raise CrossTenantAccess(
            f"bundle of tenant {bundle.tenant_id} would leave its region's exports root",
            tenants=[bundle.tenant_id],
        )
    return target


def publish(
    bundle: StagedBundle,
    exports_root: Path,
    run_id: str,
    roots: Mapping[str, Path] | None = None,
) -> Path:
    target = checked_target(bundle, exports_root, roots)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        retired = target.with_name(f".{target.name}.replaced-{run_id}")
        os.replace(target, retired)
        os.replace(bundle.path, target)
        shutil.rmtree(retired)
    else:
        os.replace(bundle.path, target)
    return target
