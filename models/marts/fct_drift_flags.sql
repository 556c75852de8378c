{# Tenant-aware drift (spec §6), one row per flag as of the build's as-of time: the union of
   the intermediate models int_drift_flags_*, one per kind, which share one enforced contract
   (models/intermediate/_intermediate__models.yml) and so one column order. Every flag is
   attributed: to a tenant (tenant_id, and affected_tenants holds that tenant alone), or to a
   global scope with the tenants it affects named in affected_tenants. The kinds, their check
   names and severities are data (seeds/drift_kinds.csv). The detail columns hold
   identifiers, times and counts only: no personal data, no other tenant's name; the sentence
   a person reads is written from them at the edge (tenantproof/core/drift_text.py). #}
with flags as (
    select * from {{ ref('int_drift_flags_evidence_freshness') }}
    union all
    select * from {{ ref('int_drift_flags_retention_violated') }}
    union all
    select * from {{ ref('int_drift_flags_isolation_misconfigured') }}
    union all
    select * from {{ ref('int_drift_flags_changes_unevidenced') }}
    union all
    select * from {{ ref('int_drift_flags_admin_actions_without_reason') }}
    union all
    select * from {{ ref('int_drift_flags_notifications_overdue') }}
),

kinds as (
    select * from {{ ref('drift_kinds') }}
),

final as (
    select
        {{ dbt.hash(
            "flags.kind || '|' || coalesce(flags.tenant_id, flags.global_scope)"
            ~ " || '|' || flags.subject"
        ) }} as flag_id,
        flags.kind,
        kinds.severity,
        flags.tenant_id,
        flags.global_scope,
        flags.affected_tenants,
        {{ list_length('flags.affected_tenants') }} as affected_tenant_count,
        flags.detected_at,
        flags.subject,
        flags.service_id,
        flags.control_id,
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
        {{ as_of() }} as as_of
    from flags
    left join kinds on flags.kind = kinds.kind
)

select * from final
