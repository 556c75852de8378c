{# Tenant-aware drift (spec §6), one row per flag as of the build's as-of time. Every flag is
   attributed: to a tenant (tenant_id, and affected_tenants holds that tenant alone), or to a
   global scope with the tenants it affects named in affected_tenants. The kinds, their check
   names and severities are data (seeds/drift_kinds.csv). Evidence texts hold identifiers,
   times and counts only: no personal data, no other tenant's name. #}
with freshness as (
    select * from {{ ref('fct_evidence_freshness') }}
),

tenants as (
    select * from {{ ref('dim_tenants') }}
),

kinds as (
    select * from {{ ref('drift_kinds') }}
),

-- evidence stale / missing: per tenant x control, from the freshness mart
freshness_flags as (
    select
        'evidence_' || status as kind,
        tenant_id,
        cast(null as string) as global_scope,
        {{ dbt.array_construct(['tenant_id'], 'string') }} as affected_tenants,
        case
            when status = 'stale' then fresh_until
            when onboarded_at is not null
                and {{ timestamp_add('day', 'freshness_sla_days', 'onboarded_at') }} < as_of
                then {{ timestamp_add('day', 'freshness_sla_days', 'onboarded_at') }}
            else as_of
        end as detected_at,
        'control ' || control_id as subject,
        last_evidence_service_id as service_id,
        control_id,
        case
            when status = 'stale'
                then 'last evidence ' || last_evidence_id || ' ('
                    || case
                        when last_evidence_origin = 'tenant' then 'own'
                        else 'shared service ' || coalesce(last_evidence_service_id, '?')
                    end
                    || ') observed ' || {{ ts_text('last_evidence_at') }} || ', '
                    || cast(round(age_days, 1) as string) || ' days old; SLA '
                    || cast(freshness_sla_days as string) || ' days'
            else 'no evidence, own or inherited from a shared service; SLA '
                || cast(freshness_sla_days as string) || ' days'
        end as evidence
    from freshness
    where status in ('stale', 'missing')
),

-- retention window violated: rows older than the class's retention_days still in the marts
held as (
    select tenant_id, 'audit_events' as held_in, occurred_at as held_at
    from {{ ref('fct_audit_events') }}
    union all
    select tenant_id, 'access_history' as held_in, accessed_at as held_at
    from {{ ref('fct_access_history') }}
    union all
    select tenant_id, 'evidence' as held_in, observed_at as held_at
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

retention_flags as (
    select
        'retention_violated' as kind,
        tenant_id,
        cast(null as string) as global_scope,
        {{ dbt.array_construct(['tenant_id'], 'string') }} as affected_tenants,
        {{ timestamp_add('day', 'retention_days', 'oldest_at') }} as detected_at,
        'retention ' || cast(retention_days as string) || ' days' as subject,
        cast(null as string) as service_id,
        cast(null as string) as control_id,
        cast(expired_rows as string) || ' row(s) held past the '
            || cast(retention_days as string) || '-day retention window (audit_events '
            || cast(audit_events_rows as string) || ', access_history '
            || cast(access_history_rows as string) || ', evidence '
            || cast(evidence_rows as string) || '); oldest '
            || {{ ts_text('oldest_at') }} as evidence
    from expired
),

-- tenant isolation misconfiguration: the export's validation or the tenant scope found rows of
-- another tenant (raw.isolation_incidents, written by the export)
isolation as (
    select * from {{ ref('stg_raw__isolation_incidents') }}
    where detected_at <= {{ as_of() }}
),

isolation_grouped as (
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

isolation_flags as (
    select
        'tenant_isolation_misconfigured' as kind,
        case when tenant_count = 1 then only_tenant_id end as tenant_id,
        case when tenant_count > 1 then 'export_run' end as global_scope,
        affected_tenants,
        detected_at,
        'export run ' || run_id as subject,
        cast(null as string) as service_id,
        cast(null as string) as control_id,
        case
            when detected_by = 'tenant_scope'
                then 'the tenant scope returned rows outside the scope; the export stopped'
            else 'export validation failed (' || failed_checks || '): '
                || cast(failed_expectations as string) || ' expectation(s), '
                || cast(unexpected_rows as string) || ' unexpected row(s); nothing published'
        end as evidence
    from isolation_grouped
),

-- a change on a shared service with no evidence for that service observed since
changes as (
    select
        events.event_id,
        events.occurred_at,
        events.global_scope,
        events.service as service_id,
        events.action,
        actions.evidence_due_hours
    from {{ ref('stg_raw__audit_events') }} as events
    inner join {{ ref('change_actions') }} as actions on events.action = actions.action
    where events.global_scope is not null
        and coalesce(events.outcome, 'success') = 'success'
        and events.occurred_at <= {{ as_of() }}
),

shared_evidence as (
    select service_id, observed_at
    from {{ ref('stg_raw__evidence_events') }}
    where global_scope is not null and observed_at <= {{ as_of() }}
),

refreshed as (
    select changes.event_id, min(shared_evidence.observed_at) as refreshed_at
    from changes
    inner join shared_evidence
        on changes.service_id = shared_evidence.service_id
        and shared_evidence.observed_at > changes.occurred_at
    group by changes.event_id
),

unevidenced as (
    select changes.*
    from changes
    left join refreshed on changes.event_id = refreshed.event_id
    where refreshed.event_id is null
        and {{ timestamp_add('hour', 'changes.evidence_due_hours', 'changes.occurred_at') }}
            <= {{ as_of() }}
),

change_affected as (
    select
        unevidenced.event_id,
        {{ sorted_list_agg('applied.tenant_id') }} as affected_tenants
    from unevidenced
    inner join {{ ref('int_shared_services_applied') }} as applied
        on unevidenced.service_id = applied.service_id
    group by unevidenced.event_id
),

change_flags as (
    select
        'shared_service_change_unevidenced' as kind,
        cast(null as string) as tenant_id,
        unevidenced.global_scope,
        change_affected.affected_tenants,
        {{ timestamp_add('hour', 'unevidenced.evidence_due_hours', 'unevidenced.occurred_at') }}
            as detected_at,
        unevidenced.service_id || ' ' || unevidenced.action || ' ' || unevidenced.event_id
            as subject,
        unevidenced.service_id,
        cast(null as string) as control_id,
        unevidenced.action || ' on ' || unevidenced.service_id || ' at '
            || {{ ts_text('unevidenced.occurred_at') }} || ' (event ' || unevidenced.event_id
            || '): no evidence from ' || unevidenced.service_id
            || ' observed since; due within '
            || cast(unevidenced.evidence_due_hours as string) || ' h' as evidence
    from unevidenced
    inner join change_affected on unevidenced.event_id = change_affected.event_id
),

-- an admin action (or impersonation) without a logged reason (spec §5.1)
admin_flags as (
    select
        'admin_action_without_reason' as kind,
        tenant_id,
        cast(null as string) as global_scope,
        {{ dbt.array_construct(['tenant_id'], 'string') }} as affected_tenants,
        accessed_at as detected_at,
        'access ' || access_id as subject,
        cast(null as string) as service_id,
        cast(null as string) as control_id,
        access_type || ' access ' || access_id || ' at ' || {{ ts_text('accessed_at') }}
            || ' has no reason' as evidence
    from {{ ref('fct_access_history') }}
    where admin_without_reason and accessed_at <= {{ as_of() }}
),

-- an incident notification sent after the class SLA, or not sent and past it
overdue as (
    select * from {{ ref('fct_incident_notifications') }}
    where is_overdue
),

overdue_grouped as (
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

incident_flags as (
    select
        'incident_notification_overdue' as kind,
        case when attribution = 'tenant' then only_tenant_id end as tenant_id,
        case when attribution = 'global_scope' then global_scope end as global_scope,
        affected_tenants,
        first_deadline as detected_at,
        'incident ' || incident_id as subject,
        service_id,
        cast(null as string) as control_id,
        'incident ' || incident_id || ' (' || coalesce(severity, '?') || ') detected '
            || {{ ts_text('detected_at') }} || ': '
            || case
                when notified_at is null then 'not notified'
                else 'notified ' || {{ ts_text('notified_at') }}
            end
            || ', ' || cast(round(max_hours_past_deadline, 1) as string)
            || ' h past the deadline ('
            || case when tenant_count > 1 then 'shortest ' else '' end
            || 'SLA ' || cast(shortest_sla_hours as string) || ' h)' as evidence
    from overdue_grouped
),

flags as (
    select * from freshness_flags
    union all
    select * from retention_flags
    union all
    select * from isolation_flags
    union all
    select * from change_flags
    union all
    select * from admin_flags
    union all
    select * from incident_flags
),

final as (
    select
        {{ dbt.hash("flags.kind || '|' || coalesce(flags.tenant_id, flags.global_scope) || '|' || flags.subject") }}
            as flag_id,
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
        flags.evidence,
        {{ as_of() }} as as_of
    from flags
    left join kinds on flags.kind = kinds.kind
)

select * from final
