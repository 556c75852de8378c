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
from tenantproof.core.residency import ResidencyViolation, check_residency


def bundle_target(bundle: StagedBundle, roots: Mapping[str, Path]) -> Path:
    """``<region root>/<tenant>/<period>``, the region roots as ``region_roots`` gives them."""
    if bundle.residency_region not in roots:
        raise ResidencyViolation(
            f"tenant {bundle.tenant_id}: region {bundle.residency_region!r} has no exports root "
            "(seeds/regions.csv)"
        )
    return roots[bundle.residency_region] / bundle.tenant_id / bundle.period


def checked_target(bundle: StagedBundle, roots: Mapping[str, Path]) -> Path:
    """The bundle's target, refused unless it lies exactly at ``<its region root>/<tenant>/
    <period>`` and no other region's root holds it. The region's root is resolved on its own,
    not from the target: a tenant id or period that is not one plain path segment ("../us/t9")
    or a linked folder cannot move the bundle into another region."""
    plain = all(
        part and part not in (".", "..") and "/" not in part and os.sep not in part
        for part in (bundle.tenant_id, bundle.period)
    )
    target = bundle_target(bundle, roots)
    own_root = roots[bundle.residency_region].resolve()
    if not plain or target.resolve() != own_root / bundle.tenant_id / bundle.period:
        raise CrossTenantAccess(
            f"bundle of tenant {bundle.tenant_id} would leave its region's exports root",
            tenants=[bundle.tenant_id],
        )
    check_residency(target, bundle.tenant_id, bundle.residency_region, roots)
    return target


def publish(bundle: StagedBundle, run_id: str, roots: Mapping[str, Path]) -> Path:
    target = checked_target(bundle, roots)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        retired = target.with_name(f".{target.name}.replaced-{run_id}")
        os.replace(target, retired)
        os.replace(bundle.path, target)
        shutil.rmtree(retired)
    else:
        os.replace(bundle.path, target)
    return target
