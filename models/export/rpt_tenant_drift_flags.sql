{# The drift flags that affect a tenant, one row per flag and affected tenant, as they go into
   its bundle's freshness_report.html: a global flag appears for each tenant it affects, without
   the list of the others. Its text and id columns drawn from landing data or logs (subject,
   event_id, action, detected_by, failed_checks, incident_severity) are scrubbed of other
   tenants' identifiers; the page writes its sentence from these columns
   (tenantproof/core/drift_text.py). #}
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
        {{ scrub_foreign_tenants('flags.subject', 'tenants.tenant_id', 'tenants.tenant_name') }}
            as subject,
        flags.detected_at,
        {{ scrub_foreign_tenants('flags.event_id', 'tenants.tenant_id', 'tenants.tenant_name') }}
            as event_id,
        flags.event_at,
        flags.evidence_origin,
        {{ scrub_foreign_tenants('flags.action', 'tenants.tenant_id', 'tenants.tenant_name') }}
            as action,
        {{ scrub_foreign_tenants('flags.detected_by', 'tenants.tenant_id', 'tenants.tenant_name') }}
            as detected_by,
        {{ scrub_foreign_tenants(
            'flags.failed_checks', 'tenants.tenant_id', 'tenants.tenant_name'
        ) }}
            as failed_checks,
        {{ scrub_foreign_tenants(
            'flags.incident_severity', 'tenants.tenant_id', 'tenants.tenant_name'
        ) }}
            as incident_severity,
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
