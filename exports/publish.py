"""Atomic publication of validated bundles (DESIGN principle 4).

A bundle moves from staging to ``<exports>/<region>/<tenant_id>/<period>/`` by one rename on
the same file system, so a reader sees the whole bundle or none of it. A bundle that replaces an
earlier export of the same period is swapped with it in one step (Linux ``renameat2`` with
``RENAME_EXCHANGE``): at every instant the real name holds the old bundle or the new one, and
the old one lands in the run's staging folder, where it is removed (or swept after a kill,
``exports.leftovers``). Nothing a run leaves under a region root is a bundle folder name: an
incoming copy from another volume waits under a hidden ``.incoming-`` name, which the verifier
and the summary never take for a bundle.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from exports.bundle import StagedBundle
from exports.scope import CrossTenantAccess
from tenantproof.core.residency import ResidencyViolation, check_residency

INCOMING_PREFIX = ".incoming-"  # a bundle copied from another volume, not yet swapped in
RETIRED_SUFFIX = ".retired"  # beside the staged bundle: the published one it replaced

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


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


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step; False where the system cannot (not Linux, or a file
    system without ``RENAME_EXCHANGE``), so that the caller falls back on two renames."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def publish(bundle: StagedBundle, run_id: str, roots: Mapping[str, Path]) -> Path:
    """Move the staged bundle to its target; the bundle it replaces is removed after the swap.
    ``run_id`` names the incoming copy when the region root is on another volume."""
    target = checked_target(bundle, roots)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = bundle.path
    if os.stat(source).st_dev != os.stat(target.parent).st_dev:
        source = target.with_name(f"{INCOMING_PREFIX}{target.name}-{run_id}")
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(bundle.path, source)
        shutil.rmtree(bundle.path)
    if not target.exists():
        os.rename(source, target)
        return target
    if exchange(source, target):  # the old bundle is now where the new one came from
        shutil.rmtree(source)
        return target
    # no exchange: for a moment neither is under the real name, never both nor a stale copy
    # under a name a reader takes for a bundle
    retired = source.with_name(source.name + RETIRED_SUFFIX)
    os.replace(target, retired)
    os.rename(source, target)
    shutil.rmtree(retired)
    return target
