{# Drift kind shared_service_change_unevidenced: a change action (seeds/change_actions.csv) on a
   shared service with no evidence for that service observed since, once evidence_due_hours
   have passed; a global flag naming exactly the tenants the service applies to. #}
with changes as (
    select
        events.event_id,
        events.occurred_at,
        events.global_scope,
        events.service as service_id,
        events.action,
        actions.evidence_due_hours
    from {{ ref('stg_raw__audit_events') }} as events
    inner join {{ ref('change_actions') }} as actions on events.action = actions.action
    where
        events.global_scope is not null
        and coalesce(events.outcome, 'success') = 'success'
        and events.occurred_at <= {{ as_of() }}
),

shared_evidence as (
    select
        service_id,
        observed_at
    from {{ ref('stg_raw__evidence_events') }}
    where global_scope is not null and observed_at <= {{ as_of() }}
),

refreshed as (
    select
        changes.event_id,
        min(shared_evidence.observed_at) as refreshed_at
    from changes
    inner join shared_evidence
        on changes.service_id = shared_evidence.service_id
        and changes.occurred_at < shared_evidence.observed_at
    group by changes.event_id
),

unevidenced as (
    select changes.*
    from changes
    left join refreshed on changes.event_id = refreshed.event_id
    where
        refreshed.event_id is null
        and {{ timestamp_add('hour', 'changes.evidence_due_hours', 'changes.occurred_at') }}
        <= {{ as_of() }}
),

affected as (
    select
        unevidenced.event_id,
        {{ sorted_list_agg('applied.tenant_id') }} as affected_tenants
    from unevidenced
    inner join {{ ref('int_shared_services_applied') }} as applied
        on unevidenced.service_id = applied.service_id
    group by unevidenced.event_id
),

final as (
    select
        'shared_service_change_unevidenced' as kind,
        cast(null as string) as tenant_id,
        unevidenced.global_scope,
        affected.affected_tenants,
        {{ timestamp_add('hour', 'unevidenced.evidence_due_hours', 'unevidenced.occurred_at') }}
            as detected_at,
        unevidenced.service_id || ' ' || unevidenced.action || ' ' || unevidenced.event_id
            as subject,
        unevidenced.service_id,
        cast(null as string) as control_id,
        unevidenced.event_id,
        unevidenced.occurred_at as event_at,
        cast(null as string) as evidence_origin,
        unevidenced.action,
        cast(null as string) as detected_by,
        cast(null as string) as failed_checks,
        cast(null as string) as incident_severity,
        cast(null as timestamp) as notified_at,
        cast(null as double) as age_days,
        cast(null as integer) as sla_days,
        cast(unevidenced.evidence_due_hours as integer) as sla_hours,
        cast(null as double) as hours_past_deadline,
        cast(null as integer) as retention_days,
        cast(null as bigint) as expired_rows,
        cast(null as bigint) as audit_events_rows,
        cast(null as bigint) as access_history_rows,
        cast(null as bigint) as evidence_rows,
        cast(null as bigint) as failed_expectations,
        cast(null as bigint) as unexpected_rows,
        cast(null as bigint) as tenant_count
    from unevidenced
    inner join affected on unevidenced.event_id = affected.event_id
)

select * from final
