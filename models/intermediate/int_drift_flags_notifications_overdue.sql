{# Drift kind incident_notification_overdue: an incident notification sent after the class SLA,
   or not sent and past it. One flag per incident: on its tenant, or global with the tenants
   it was overdue for; detected when the first of their deadlines passed. #}
with overdue as (
    select * from {{ ref('fct_incident_notifications') }}
    where is_overdue
),

grouped as (
    select
        incident_id,
        attribution,
        global_scope,
        service_id,
        severity,
        detected_at,
        notified_at,
        count(*) as tenant_count,
        min(tenant_id) as only_tenant_id,
        min(notify_by) as first_deadline,
        min(notification_sla_hours) as shortest_sla_hours,
        max(hours_past_deadline) as max_hours_past_deadline,
        {{ sorted_list_agg('tenant_id') }} as affected_tenants
    from overdue
    group by incident_id, attribution, global_scope, service_id, severity, detected_at, notified_at
),

final as (
    select
        'incident_notification_overdue' as kind,
        case when attribution = 'tenant' then only_tenant_id end as tenant_id,
        case when attribution = 'global_scope' then global_scope end as global_scope,
        affected_tenants,
        first_deadline as detected_at,
        'incident ' || incident_id as subject,
        service_id,
        cast(null as string) as control_id,
        incident_id as event_id,
        detected_at as event_at,
        cast(null as string) as evidence_origin,
        cast(null as string) as action,
        cast(null as string) as detected_by,
        cast(null as string) as failed_checks,
        severity as incident_severity,
        notified_at,
        cast(null as double) as age_days,
        cast(null as integer) as sla_days,
        cast(shortest_sla_hours as integer) as sla_hours,
        cast(max_hours_past_deadline as double) as hours_past_deadline,
        cast(null as integer) as retention_days,
        cast(null as bigint) as expired_rows,
        cast(null as bigint) as audit_events_rows,
        cast(null as bigint) as access_history_rows,
        cast(null as bigint) as evidence_rows,
        cast(null as bigint) as failed_expectations,
        cast(null as bigint) as unexpected_rows,
        cast(tenant_count as bigint) as tenant_count
    from grouped
)

select * from final
