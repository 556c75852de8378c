{# Daily history of evidence freshness per tenant x applicable control, for trends: the status
   at the end of each day (UTC) of the last `freshness_history_days` (default 90) days up to the
   as-of time; the last day's row is the as-of status itself (fct_evidence_freshness). A tenant
   has rows only from the day it was onboarded to the day it was offboarded (each bound when
   set): before it there was nothing to evidence, so counting those days as missing would bend
   its trend, and after it the tenant is gone. Each evidence timestamp is valid until the next
   one, so a day meets one interval at most. #}
with days as (
    {{ dbt.date_spine('day', history_start_date(), dbt.dateadd('day', 1, history_end_date())) }}
),

day_bounds as (
    select
        cast(date_day as date) as snapshot_date,
        cast(date_day as timestamp) as day_start,
        {{ timestamp_add('day', 1, 'cast(date_day as timestamp)') }} as day_end
    from days
),

snapshots as (
    select
        snapshot_date,
        day_start,
        day_end,
        case when day_end < {{ as_of() }} then day_end else {{ as_of() }} end as snapshot_at
    from day_bounds
),

tenants as (
    select
        tenant_id,
        onboarded_at,
        offboarded_at
    from {{ ref('dim_tenants') }}
),

pairs as (
    select
        freshness.tenant_id,
        freshness.control_id,
        freshness.family,
        freshness.freshness_sla_days,
        tenants.onboarded_at,
        tenants.offboarded_at
    from {{ ref('fct_evidence_freshness') }} as freshness
    inner join tenants on freshness.tenant_id = tenants.tenant_id
),

-- each pair on the days its tenant was a tenant: onboarded by the day's end, not offboarded
-- before the day began
tenant_days as (
    select
        snapshots.snapshot_date,
        snapshots.snapshot_at,
        pairs.tenant_id,
        pairs.control_id,
        pairs.family,
        pairs.freshness_sla_days
    from snapshots
    inner join pairs
        on (pairs.onboarded_at is null or snapshots.day_end > pairs.onboarded_at)
        and (pairs.offboarded_at is null or snapshots.day_start <= pairs.offboarded_at)
),

observed as (
    select distinct
        tenant_id,
        control_id,
        observed_at
    from {{ ref('int_control_evidence_unioned') }}
    where observed_at <= {{ as_of() }}
),

intervals as (
    select
        tenant_id,
        control_id,
        observed_at as valid_from,
        lead(observed_at) over (partition by tenant_id, control_id order by observed_at)
            as valid_to
    from observed
),

final as (
    select
        tenant_days.snapshot_date,
        tenant_days.snapshot_at,
        tenant_days.tenant_id,
        tenant_days.control_id,
        tenant_days.family,
        tenant_days.freshness_sla_days,
        intervals.valid_from as last_evidence_at,
        {{ hours_between('intervals.valid_from', 'tenant_days.snapshot_at') }} / 24.0 as age_days,
        case
            when intervals.valid_from is null then 'missing'
            when
                {{ timestamp_add('day', 'tenant_days.freshness_sla_days', 'intervals.valid_from') }}
                < tenant_days.snapshot_at
                then 'stale'
            else 'fresh'
        end as status
    from tenant_days
    left join intervals
        on tenant_days.tenant_id = intervals.tenant_id
        and tenant_days.control_id = intervals.control_id
        and tenant_days.snapshot_at >= intervals.valid_from
        and (intervals.valid_to is null or tenant_days.snapshot_at < intervals.valid_to)
)

select * from final
