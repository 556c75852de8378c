"""The export schedule, built from the cadences in the policy matrix.

A class's ``export_cadence`` (seeds/tenant_class_policies.csv) says when its tenants' bundles
are exported; the cron of each cadence is ``tenantproof.core.policy.CADENCES``. The schedule
ticks on every cron of a cadence some class uses, and each tick exports the last complete period
(bundles are monthly periods) for exactly the tenants whose class's cadence is due then, read
from the registry Parquet. ``monthly`` is due on the 1st; ``weekly`` on the 1st and every
Monday: the Monday runs re-export the last complete month, so late-arriving rows and corrections
reach the auditor within a week (the new manifest records the one it ``replaces``). On the 1st
every cadence is due, so every tenant's last complete period is exported in one run: one scan,
one validation. No code names a class: a class that changes cadence moves by a seed edit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

import dagster as dg
import pyarrow.parquet as pq

from orchestration.partitions import TENANT_PARTITIONS, contiguous_blocks, range_tags
from orchestration.resources import TenantproofResource
from tenantproof.core.home import Home
from tenantproof.core.periods import last_complete_period
from tenantproof.core.policy import CADENCES, Policy, load_policy


def tenant_classes(home: Home) -> dict[str, str]:
    """tenant_id -> tenant_class from the registry Parquet (never the warehouse file)."""
    if not home.registry.exists():
        return {}
    table = pq.read_table(home.registry, columns=["tenant_id", "tenant_class"])
    return dict(zip(*(table.column(i).to_pylist() for i in range(2)), strict=True))


def _cron_field(field: str) -> set[int] | None:
    """The values a cron field lists; None for ``*``."""
    return None if field == "*" else {int(part) for part in field.split(",")}


def cron_matches(cron: str, at: datetime) -> bool:
    """Whether a five-field cron (``*``, numbers and lists, as ``CADENCES`` uses) fires at this
    minute; day of month and day of week are either-or when both are set, as in cron."""
    minute, hour, dom, month, dow = (_cron_field(f) for f in cron.split())
    if dow is not None:
        dow = {d % 7 for d in dow}  # 0 and 7 are Sunday
    weekday = (at.weekday() + 1) % 7
    on_dom = dom is None or at.day in dom
    on_dow = dow is None or weekday in dow
    day = (on_dom or on_dow) if dom is not None and dow is not None else (on_dom and on_dow)
    return (
        (minute is None or at.minute in minute)
        and (hour is None or at.hour in hour)
        and (month is None or at.month in month)
        and day
    )


def due_cadences(policy: Policy, at: datetime) -> list[str]:
    """The cadences some class uses whose cron fires at this time."""
    used = sorted({policy.cadence(c) for c in policy.classes})
    return [c for c in used if cron_matches(CADENCES[c], at)]


def cadence_run_requests(
    cadences: Sequence[str],
    policy: Policy,
    order: Sequence[str],
    classes: Mapping[str, str],
    today: date,
) -> list[dg.RunRequest]:
    """Runs over the last complete period for the tenants of the classes with these cadences:
    one partition range per run of neighbours in partition order, so one run when every
    tenant is due."""
    wanted = {c for cadence in cadences for c in policy.classes_with_cadence(cadence)}
    chosen = [t for t in order if classes.get(t) in wanted]
    if not chosen:
        return []
    period = last_complete_period(today)
    label = "+".join(sorted(cadences))
    return [
        dg.RunRequest(
            run_key=f"bundles-{label}-{period}-{today.isoformat()}-{first}",
            tags={
                **range_tags((period, first), (period, last)),
                "tenantproof/export_cadence": label,
            },
        )
        for first, last in contiguous_blocks(order, chosen)
    ]


def export_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """Ticks on every cron of a cadence some class uses (read from the seeds when definitions
    load); each tick exports the tenants whose cadence is due."""
    policy = load_policy()
    crons = sorted({CADENCES[policy.cadence(c)] for c in policy.classes})

    @dg.schedule(
        name="tenant_audit_bundles_schedule",
        job=job,
        cron_schedule=crons if len(crons) > 1 else crons[0],
        description="The last complete period's bundles of the tenants whose class's "
        "export_cadence is due: every tenant in one run on the 1st, weekly classes on Mondays.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext, tenantproof: TenantproofResource):
        home = tenantproof.get_home()
        policy = tenantproof.policy()
        at = context.scheduled_execution_time
        due = due_cadences(policy, at)
        requests = cadence_run_requests(
            due,
            policy,
            context.instance.get_dynamic_partitions(TENANT_PARTITIONS.name),
            tenant_classes(home),
            at.date(),
        )
        return requests or dg.SkipReason(
            f"no tenant of a class with cadence {', '.join(due) or '(none due)'} yet"
        )

    return _schedule
