{# Audit events per bundle tenant, redacted by the tenant's profile; fct_audit_events scrubs
   their text of other tenants' identifiers. #}
with events as (
    select * from {{ ref('int_audit_events_attributed') }}
),

redaction as (
    select * from {{ ref('int_tenants_joined_to_policies') }}
),

final as (
    select
        redaction.tenant_id,
        events.event_id,
        events.occurred_at,
        {{ month_key('events.occurred_at') }} as period,
        events.attribution,
        events.global_scope,
        events.scope_justification,
        events.applies_because,
        {{ redact('actor_id') }} as actor_id,
        {{ own_tenant_or_hidden(
            'events.actor_tenant_id', 'redaction.tenant_id'
        ) }} as actor_tenant_id,
        {{ redact('actor_email') }} as actor_email,
        {{ redact('actor_ip') }} as actor_ip,
        {{ redact('user_agent') }} as user_agent,
        events.service,
        events.action,
        events.resource_type,
        events.resource_id,
        events.outcome,
        events.reason,
        events.details,
        events.source_file,
        events.source_line,
        events.loaded_at
    from events
    inner join redaction on events.bundle_tenant_id = redaction.tenant_id
)

select * from final
