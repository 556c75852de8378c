{# The drift flags that affect a tenant, one row per flag and affected tenant: a global flag
   appears for each tenant it affects, without the list of the others. rpt_tenant_drift_flags
   scrubs their text of other tenants' identifiers. #}
with flags as (
    select * from {{ ref('fct_drift_flags') }}
),

tenants as (
    select * from {{ ref('dim_tenants') }}
),

final as (
    select
        tenants.tenant_id,
        flags.flag_id,
        flags.kind,
        flags.severity,
        case when flags.tenant_id is null then 'global' else 'tenant' end as scope,
        flags.global_scope,
        flags.service_id,
        flags.control_id,
        flags.subject,
        flags.detected_at,
        flags.event_id,
        flags.event_at,
        flags.evidence_origin,
        flags.action,
        flags.detected_by,
        flags.failed_checks,
        flags.incident_severity,
        flags.notified_at,
        flags.age_days,
        flags.sla_days,
        flags.sla_hours,
        flags.hours_past_deadline,
        flags.retention_days,
        flags.expired_rows,
        flags.audit_events_rows,
        flags.access_history_rows,
        flags.evidence_rows,
        flags.failed_expectations,
        flags.unexpected_rows,
        flags.tenant_count,
        flags.as_of
    from flags
    inner join tenants on {{ list_has('flags.affected_tenants', 'tenants.tenant_id') }}
)

select * from final
