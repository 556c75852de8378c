"""Where each region's bundles live: one exports root per region, resolved here only.

Spec §2.4: a tenant's bundle is never written under another region's root. Each region
in ``seeds/regions.csv`` names the environment variable that may move its root elsewhere (another
volume, another bucket mount); unset, the root is ``<home>/exports/<region>``. The settings
resolve the variables once (``Home.region_root`` holds the rule); nothing here reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tenantproof.core.home import Home
from tenantproof.core.policy import Policy


class ResidencyViolation(RuntimeError):
    """A bundle's target is outside its tenant's region root, or inside another region's."""


def region_roots(home: Home, policy: Policy) -> dict[str, Path]:
    """Every region's exports root (``Home.region_root``)."""
    return {region: home.region_root(region) for region in policy.regions}


def check_residency(target: Path, tenant_id: str, region: str, roots: Mapping[str, Path]) -> None:
    """Refuse a target outside the tenant's own region root or under any other region's root
    (roots may nest when configured carelessly: the deeper one must not take the other's)."""
    if region not in roots:
        raise ResidencyViolation(
            f"tenant {tenant_id}: region {region!r} has no exports root (seeds/regions.csv)"
        )
    resolved = target.resolve()
    own = roots[region]
    if own not in resolved.parents:
        raise ResidencyViolation(
            f"tenant {tenant_id}: bundle target {resolved} is outside region {region}'s "
            f"exports root {own}"
        )
    for other, root in roots.items():
        if other == region or root == own:
            continue
        if root in resolved.parents or root == resolved:
            raise ResidencyViolation(
                f"tenant {tenant_id}: bundle target {resolved} of region {region} lies under "
                f"region {other}'s exports root {root}"
            )
