"""Atomic publication of validated bundles (DESIGN principle 4).

A bundle moves from staging to ``<exports>/<region>/<tenant_id>/<period>/`` by one rename on
the same file system, so a reader sees the whole bundle or none of it. A bundle that replaces an
earlier export of the same period is swapped in the same way, the old one removed after.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from exports.bundle import StagedBundle
from exports.scope import CrossTenantAccess


def bundle_target(exports_root: Path, bundle: StagedBundle) -> Path:
    return exports_root / bundle.residency_region / bundle.tenant_id / bundle.period


def publish(bundle: StagedBundle, exports_root: Path, run_id: str) -> Path:
    target = bundle_target(exports_root, bundle)
    region_root = (exports_root / bundle.residency_region).resolve()
    if region_root not in target.resolve().parents:
        raise CrossTenantAccess(
            f"bundle of tenant {bundle.tenant_id} would leave its region's exports root"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        retired = target.with_name(f".{target.name}.replaced-{run_id}")
        os.replace(target, retired)
        os.replace(bundle.path, target)
        shutil.rmtree(retired)
    else:
        os.replace(bundle.path, target)
    return target
