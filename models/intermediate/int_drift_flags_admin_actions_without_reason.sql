{# Drift kind admin_action_without_reason: an admin action or impersonation with no logged reason
   (spec §5.1), on its tenant, detected when it happened. #}
with accesses as (
    select * from {{ ref('fct_access_history') }}
    where admin_without_reason and accessed_at <= {{ as_of() }}
),

final as (
    select
        'admin_action_without_reason' as kind,
        tenant_id,
        cast(null as string) as global_scope,
        {{ dbt.array_construct(['tenant_id'], 'string') }} as affected_tenants,
        accessed_at as detected_at,
        'access ' || access_id as subject,
        cast(null as string) as service_id,
        cast(null as string) as control_id,
        access_id as event_id,
        accessed_at as event_at,
        cast(null as string) as evidence_origin,
        access_type as action,
        cast(null as string) as detected_by,
        cast(null as string) as failed_checks,
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
        cast(null as bigint) as failed_expectations,
        cast(null as bigint) as unexpected_rows,
        cast(null as bigint) as tenant_count
    from accesses
)

select * from final
