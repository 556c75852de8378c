{# Drift kinds evidence_stale and evidence_missing: per tenant x control, from the freshness
   mart. detected_at is when the SLA lapsed (for missing evidence: onboarding + SLA, or the
   as-of time when that is later). #}
with freshness as (
    select * from {{ ref('fct_evidence_freshness') }}
    where status in ('stale', 'missing')
),

final as (
    select
        'evidence_' || status as kind,
        tenant_id,
        cast(null as string) as global_scope,
        {{ dbt.array_construct(['tenant_id'], 'string') }} as affected_tenants,
        case
            when status = 'stale' then fresh_until
            when
                onboarded_at is not null
                and {{ timestamp_add('day', 'freshness_sla_days', 'onboarded_at') }} < as_of
                then {{ timestamp_add('day', 'freshness_sla_days', 'onboarded_at') }}
            else as_of
        end as detected_at,
        'control ' || control_id as subject,
        last_evidence_service_id as service_id,
        control_id,
        last_evidence_id as event_id,
        last_evidence_at as event_at,
        last_evidence_origin as evidence_origin,
        cast(null as string) as action,
        cast(null as string) as detected_by,
        cast(null as string) as failed_checks,
        cast(null as string) as incident_severity,
        cast(null as timestamp) as notified_at,
        cast(age_days as double) as age_days,
        cast(freshness_sla_days as integer) as sla_days,
        cast(null as integer) as sla_hours,
        cast(null as double) as hours_past_deadline,
        cast(null as integer) as retention_days,
        cast(null as bigint) as expired_rows,
        cast(null as bigint) as audit_events_rows,
        cast(null as bigint) as access_history_rows,
        cast(null as bigint) as evidence_rows,
        cast(null as bigint) as failed_expectations,
        cast(null as bigint) as unexpected_rows,
        cast(null as bigint) as tenant_count
    from freshness
)

select * from final
