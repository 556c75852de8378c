{# Drift kind retention_violated: per tenant, the rows older than its class's retention_days
   still in the marts (tenantproof/erasure/retention.py purges them; this is what it left). detected_at
   is when the oldest of them passed the window. #}
with tenants as (
    select * from {{ ref('dim_tenants') }}
),

held as (
    select
        tenant_id,
        'audit_events' as held_in,
        occurred_at as held_at
    from {{ ref('fct_audit_events') }}
    union all
    select
        tenant_id,
        'access_history' as held_in,
        accessed_at as held_at
    from {{ ref('fct_access_history') }}
    union all
    select
        tenant_id,
        'evidence' as held_in,
        observed_at as held_at
    from {{ ref('fct_evidence') }}
),

expired as (
    select
        held.tenant_id,
        tenants.retention_days,
        count(*) as expired_rows,
        sum(case when held.held_in = 'audit_events' then 1 else 0 end) as audit_events_rows,
        sum(case when held.held_in = 'access_history' then 1 else 0 end) as access_history_rows,
        sum(case when held.held_in = 'evidence' then 1 else 0 end) as evidence_rows,
        min(held.held_at) as oldest_at
    from held
    inner join tenants on held.tenant_id = tenants.tenant_id
    where held.held_at < {{ timestamp_add('day', '-1 * tenants.retention_days', as_of()) }}
    group by held.tenant_id, tenants.retention_days
),

final as (
    select
        'retention_violated' as kind,
        tenant_id,
        cast(null as string) as global_scope,
        {{ dbt.array_construct(['tenant_id'], 'string') }} as affected_tenants,
        {{ timestamp_add('day', 'retention_days', 'oldest_at') }} as detected_at,
        'retention ' || cast(retention_days as string) || ' days' as subject,
        cast(null as string) as service_id,
        cast(null as string) as control_id,
        cast(null as string) as event_id,
        oldest_at as event_at,
        cast(null as string) as evidence_origin,
        cast(null as string) as action,
        cast(null as string) as detected_by,
        cast(null as string) as failed_checks,
        cast(null as string) as incident_severity,
        cast(null as timestamp) as notified_at,
        cast(null as double) as age_days,
        cast(null as integer) as sla_days,
        cast(null as integer) as sla_hours,
        cast(null as double) as hours_past_deadline,
        cast(retention_days as integer) as retention_days,
        cast(expired_rows as bigint) as expired_rows,
        cast(audit_events_rows as bigint) as audit_events_rows,
        cast(access_history_rows as bigint) as access_history_rows,
        cast(evidence_rows as bigint) as evidence_rows,
        cast(null as bigint) as failed_expectations,
        cast(null as bigint) as unexpected_rows,
        cast(null as bigint) as tenant_count
    from expired
)

select * from final
