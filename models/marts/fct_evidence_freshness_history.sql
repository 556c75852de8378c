{# Daily history of evidence freshness per tenant x applicable control, for trends: the status
   at the end of each day (UTC) of the last `freshness_history_days` (default 90) days up to the
   as-of time; the last day's row is the as-of status itself (fct_evidence_freshness). Each
   evidence timestamp is valid until the next one, so a day meets one interval at most. #}
with days as (
    {{ dbt.date_spine('day', history_start_date(), dbt.dateadd('day', 1, history_end_date())) }}
),

snapshots as (
    select
        cast(date_day as date) as snapshot_date,
        case
            when {{ timestamp_add('day', 1, 'cast(date_day as timestamp)') }} < {{ as_of() }}
                then {{ timestamp_add('day', 1, 'cast(date_day as timestamp)') }}
            else {{ as_of() }}
        end as snapshot_at
    from days
),

pairs as (
    select tenant_id, control_id, family, freshness_sla_days
    from {{ ref('fct_evidence_freshness') }}
),

observed as (
    select distinct tenant_id, control_id, observed_at
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
        snapshots.snapshot_date,
        snapshots.snapshot_at,
        pairs.tenant_id,
        pairs.control_id,
        pairs.family,
        pairs.freshness_sla_days,
        intervals.valid_from as last_evidence_at,
        {{ hours_between('intervals.valid_from', 'snapshots.snapshot_at') }} / 24.0 as age_days,
        case
            when intervals.valid_from is null then 'missing'
            when {{ timestamp_add('day', 'pairs.freshness_sla_days', 'intervals.valid_from') }}
                < snapshots.snapshot_at then 'stale'
            else 'fresh'
        end as status
    from snapshots
    cross join pairs
    left join intervals
        on pairs.tenant_id = intervals.tenant_id
        and pairs.control_id = intervals.control_id
        and intervals.valid_from <= snapshots.snapshot_at
        and (intervals.valid_to is null or intervals.valid_to > snapshots.snapshot_at)
)

select * from final
