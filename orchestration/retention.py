"""Retention purge: ``tenantproof.erasure.retention`` run by Dagster as its own job, before the
daily warehouse build, so the marts rebuilt after it hold nothing past any class's window."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.resources import TenantproofResource
from tenantproof.core.settings import parse_as_of
from tenantproof.erasure.retention import purge_expired, retention_violations

GROUP = "retention"


class RetentionConfig(dg.Config):
    """``as_of`` (YYYY-MM-DD[ HH:MM[:SS]], UTC): the instant windows count back from; default
    TENANTPROOF_AS_OF, else now, as the dbt marts do."""

    as_of: str | None = None


@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetKey(["raw", s]) for s in ("audit_events", "access_history", "evidence_events")]
    + [dg.AssetKey(["raw", "incidents"])],
    description="Rows older than each tenant class's retention_days purged from the raw tables "
    "and the marts that keep them; a signed purge record per tenant that lost rows.",
)
def retention_purge(
    context: dg.AssetExecutionContext, config: RetentionConfig, tenantproof: TenantproofResource
) -> dg.MaterializeResult:
    settings = tenantproof.settings()
    home = settings.home.ensure()
    as_of = (
        parse_as_of(config.as_of, "as_of")
        if config.as_of
        else settings.as_of_time(datetime.now(UTC))
    )
    policy = tenantproof.policy()
    with tenantproof.warehouse() as con:
        purges = purge_expired(con, home, policy, as_of)
        left = retention_violations(con, policy, as_of)
    if left:
        raise dg.Failure("rows kept past their retention window: " + "; ".join(map(str, left)))
    removed = {p.tenant_id: p.removed for p in purges if p.removed}
    for purge in purges:
        if purge.removed:
            context.log.info(
                f"tenant {purge.tenant_id} (class {purge.tenant_class}, "
                f"{purge.retention_days} days): {purge.removed} row(s) purged; {purge.record}"
            )
    return dg.MaterializeResult(
        metadata={
            "as_of": dg.MetadataValue.text(as_of.isoformat(sep=" ")),
            "rows_purged": dg.MetadataValue.int(sum(removed.values())),
            "rows_purged_by_tenant": dg.MetadataValue.json(removed),
            "policy_version": dg.MetadataValue.text(policy.version),
        }
    )


retention_purge_job = dg.define_asset_job(
    "retention_purge_job",
    selection=dg.AssetSelection.assets(retention_purge),
    description="Purge rows past each tenant class's retention window.",
)
retention_purge_schedule = dg.ScheduleDefinition(
    name="retention_purge_schedule", job=retention_purge_job, cron_schedule="0 1 * * *"
)
