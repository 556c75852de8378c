"""Bundle delivery: only to the recipients the tenant's class allows, and
every delivery recorded in that tenant's access history.

The policy's ``export_recipients`` (seeds/tenant_class_policies.csv) names who may receive a
class's bundles. ``deliver_bundles`` refuses a recipient outside that list before anything is
copied, hands each published bundle to an ``Outbox`` (by default a local folder per recipient,
``<home>/outbox/<recipient>/<region>/<tenant>/<period>/``; anything with ``deliver`` can replace
it) and writes one access-history row per delivery (access_type ``export``, actor the
recipient, reason ``bundle delivery``) to ``landing/access_history/deliveries-<run>.csv``: the
next ingest loads it like any other access row, so the delivery appears in the tenant's next
bundle.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pyarrow.parquet as pq

from tenantproof.core.files import replacing
from tenantproof.core.home import Home
from tenantproof.core.policy import Policy
from tenantproof.core.residency import region_roots
from tenantproof.core.sources import ACCESS_HISTORY

REASON = "bundle delivery"
ACCESS_TYPE = "export"


class DeliveryRefused(PermissionError):
    """A recipient the tenant's class does not allow: nothing was delivered."""


class Outbox(Protocol):
    def deliver(self, bundle: Path, recipient: str, region: str, tenant_id: str) -> Path: ...


@dataclass(frozen=True)
class LocalOutbox:
    """A folder per recipient; a bundle is copied whole, then renamed into place."""

    root: Path

    def deliver(self, bundle: Path, recipient: str, region: str, tenant_id: str) -> Path:
        target = self.root / recipient / region / tenant_id / bundle.name
        tmp = target.with_name(f".{target.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(bundle, tmp)
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(target)
        return target


@dataclass(frozen=True)
class Delivery:
    tenant_id: str
    period: str
    recipient: str
    bundle: Path
    delivered_to: Path
    manifest_sha256: str


def registry_classes(home: Home) -> dict[str, tuple[str, str]]:
    """tenant_id -> (tenant_class, residency_region) from the registry Parquet."""
    if not home.registry.exists():
        return {}
    rows = pq.read_table(
        home.registry, columns=["tenant_id", "tenant_class", "residency_region"]
    ).to_pylist()
    return {r["tenant_id"]: (r["tenant_class"], r["residency_region"]) for r in rows}


def published_bundles(home: Home, policy: Policy, tenant_id: str) -> list[Path]:
    """The tenant's published bundles under its region roots (configured or default)."""
    found = set()
    for root in region_roots(home, policy).values():
        found |= {m.parent for m in root.glob(f"{tenant_id}/*/manifest.json")}
    return sorted(found)


def deliver_bundles(
    home: Home,
    policy: Policy,
    *,
    tenants: Sequence[str] | None = None,
    periods: Sequence[str] | None = None,
    recipients: Sequence[str] | None = None,
    outbox: Outbox | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
) -> list[Delivery]:
    """Deliver published bundles to allowed recipients (default: every allowed one)."""
    registry = registry_classes(home)
    chosen = sorted(tenants or registry)
    plan: list[tuple[str, str, str, Path]] = []  # tenant, recipient, region, bundle
    for tenant_id in chosen:
        if tenant_id not in registry:
            raise DeliveryRefused(f"tenant {tenant_id}: not in the registry; nothing delivered")
        tenant_class, region = registry[tenant_id]
        allowed = policy.recipients(policy.require_class(tenant_class, tenant_id)["tenant_class"])
        wanted = list(recipients) if recipients else allowed
        refused = [r for r in wanted if r not in allowed]
        if refused:
            raise DeliveryRefused(
                f"tenant {tenant_id} (class {tenant_class}): recipient(s) {', '.join(refused)} "
                f"not allowed by export_recipients ({', '.join(allowed)}); nothing delivered"
            )
        for bundle in published_bundles(home, policy, tenant_id):
            if periods and bundle.name not in periods:
                continue
            plan.extend((tenant_id, r, region, bundle) for r in wanted)
    outbox = outbox or LocalOutbox(home.outbox)
    when = (now or datetime.now(UTC)).astimezone(UTC)
    run = run_id or when.strftime("%Y%m%dT%H%M%S%fZ")
    done = []
    for tenant_id, recipient, region, bundle in plan:
        manifest = bundle / "manifest.json"
        sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
        target = outbox.deliver(bundle, recipient, region, tenant_id)
        done.append(Delivery(tenant_id, bundle.name, recipient, bundle, target, sha))
    if done:
        record_deliveries(home, done, run, when)
    return done


def record_deliveries(home: Home, deliveries: Sequence[Delivery], run: str, when: datetime) -> Path:
    """One access-history row per delivery, as a landing file the next ingest loads."""
    folder = home.landing / ACCESS_HISTORY.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"deliveries-{run}.csv"
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    with replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ACCESS_HISTORY.columns))
        writer.writeheader()
        for i, d in enumerate(deliveries):
            writer.writerow(
                {
                    "access_id": f"delivery-{run}-{i:05d}",
                    "accessed_at": stamp,
                    "tenant_id": d.tenant_id,
                    "actor_id": f"recipient:{d.recipient}",
                    "actor_tenant_id": d.tenant_id,
                    "global_role": "",
                    "access_type": ACCESS_TYPE,
                    "impersonated_user": "",
                    "reason": REASON,
                    # the bundle delivered: its period and manifest hash
                    "session_id": f"bundle:{d.period}:{d.manifest_sha256[:16]}",
                    "actor_email": "",
                    "actor_ip": "",
                }
            )
    return path
