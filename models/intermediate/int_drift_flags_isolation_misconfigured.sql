{# Drift kind tenant_isolation_misconfigured: the export's validation or the tenant scope found
   rows of another tenant (raw.isolation_incidents, written by the export). An incident of one
   tenant is that tenant's flag; one of several, a global flag of scope export_run. #}
with isolation as (
    select * from {{ ref('stg_raw__isolation_incidents') }}
    where detected_at <= {{ as_of() }}
),

grouped as (
    select
        incident_id,
        run_id,
        detected_by,
        failed_checks,
        failed_expectations,
        unexpected_rows,
        detected_at,
        count(*) as tenant_count,
        min(tenant_id) as only_tenant_id,
        {{ sorted_list_agg('tenant_id') }} as affected_tenants
    from isolation
    group by
        incident_id, run_id, detected_by, failed_checks, failed_expectations, unexpected_rows,
        detected_at
),

final as (
    select
        'tenant_isolation_misconfigured' as kind,
        case when tenant_count = 1 then only_tenant_id end as tenant_id,
        case when tenant_count > 1 then 'export_run' end as global_scope,
        affected_tenants,
        detected_at,
        'export run ' || run_id as subject,
        cast(null as string) as service_id,
        cast(null as string) as control_id,
        run_id as event_id,
        detected_at as event_at,
        cast(null as string) as evidence_origin,
        cast(null as string) as action,
        detected_by,
        failed_checks,
        cast(null as string) as incident_severity,
        cast(null as timestamp) as notified_at,
        cast(null as double) as age_days,
        cast(null as integer) as sla_days,
        cast(null as integer) as sla_hours,
        cast(null as double) as hours_past_deadline,
        cast(null as integer) as retention_days,
        cast(null as bigint) as expired_rows,
        cast(null as bigint) as audit_events_rows,
        cast(null as bigint) as access_history_rows,
        cast(null as bigint) as evidence_rows,
        cast(failed_expectations as bigint) as failed_expectations,
        cast(unexpected_rows as bigint) as unexpected_rows,
        cast(tenant_count as bigint) as tenant_count
    from grouped
)

select * from final
