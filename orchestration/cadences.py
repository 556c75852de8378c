"""One export schedule per cadence in the policy matrix, built from data.

A class's ``export_cadence`` (seeds/tenant_class_policies.csv) picks its schedule; the cron of
each cadence is ``tenantproof.policy.CADENCES``. Each tick exports the last complete period
(bundles are monthly periods) for exactly the tenants whose class has that cadence, read from the
registry Parquet. ``monthly`` runs on the 1st; ``weekly`` runs on the 1st and every Monday: the
Monday runs re-export the last complete month, so late-arriving rows and corrections reach the
auditor within a week (the new manifest records the one it ``replaces``). No code names a class:
a class that changes cadence moves schedule by a seed edit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import dagster as dg
import pyarrow.parquet as pq

from orchestration.partitions import TENANT_PARTITIONS
from orchestration.resources import TenantproofResource
from tenantproof.cli import contiguous_blocks
from tenantproof.config import Home
from tenantproof.periods import last_complete_period
from tenantproof.policy import CADENCES, Policy, load_policy


def tenant_classes(home: Home) -> dict[str, str]:
    """tenant_id -> tenant_class from the registry Parquet (never the warehouse file)."""
    if not home.registry.exists():
        return {}
    table = pq.read_table(home.registry, columns=["tenant_id", "tenant_class"])
    return dict(zip(*(table.column(i).to_pylist() for i in range(2)), strict=True))


def cadence_run_requests(
    cadence: str,
    policy: Policy,
    order: Sequence[str],
    classes: Mapping[str, str],
    today: date,
) -> list[dg.RunRequest]:
    """Runs over the last complete period for the tenants of the classes with this cadence:
    one partition range per run of neighbours in partition order."""
    wanted = set(policy.classes_with_cadence(cadence))
    chosen = [t for t in order if classes.get(t) in wanted]
    if not chosen:
        return []
    period = last_complete_period(today)
    return [
        dg.RunRequest(
            run_key=f"bundles-{cadence}-{period}-{today.isoformat()}-{first}",
            tags={
                "dagster/asset_partition_range_start": f"{period}|{first}",
                "dagster/asset_partition_range_end": f"{period}|{last}",
                "tenantproof/export_cadence": cadence,
            },
        )
        for first, last in contiguous_blocks(order, chosen)
    ]


def cadence_schedule(cadence: str, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"tenant_audit_bundles_{cadence}_schedule",
        job=job,
        cron_schedule=CADENCES[cadence],
        description=f"Bundles of the tenants whose class's export_cadence is {cadence}.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext, tenantproof: TenantproofResource):
        home = tenantproof.get_home()
        requests = cadence_run_requests(
            cadence,
            tenantproof.policy(),
            context.instance.get_dynamic_partitions(TENANT_PARTITIONS.name),
            tenant_classes(home),
            context.scheduled_execution_time.date(),
        )
        return requests or dg.SkipReason(f"no tenant of a {cadence} class yet")

    return _schedule


def cadence_schedules(job: dg.UnresolvedAssetJobDefinition) -> list[dg.ScheduleDefinition]:
    """One schedule per cadence some class uses (read from the seeds when definitions load)."""
    policy = load_policy()
    used = sorted({policy.cadence(c) for c in policy.classes})
    return [cadence_schedule(c, job) for c in used]
