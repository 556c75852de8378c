{# Audit events per bundle tenant, redacted by the tenant's profile and with other tenants'
   identifiers scrubbed from every free-text column. #}
with events as (
    select * from {{ ref('int_audit_events_attributed') }}
),

redaction as (
    select * from {{ ref('int_tenants_joined_to_policies') }}
),

mentions as (
    {# on the events as loaded, before global events fan out: a global event that names any
       tenant is scrubbed for every tenant that receives it #}
    {{ tenant_mentions(
        ref('stg_raw__audit_events'), ['event_id'], "coalesce(tenant_id, '')",
        ['scope_justification', 'resource_id', 'reason', 'details']
    ) }}
),

final as (
    select
        redaction.tenant_id,
        events.event_id,
        events.occurred_at,
        {{ month_key('events.occurred_at') }} as period,
        events.attribution,
        events.global_scope,
        {{ scrub_if_mentioned('mentions.event_id is not null', 'events.scope_justification', 'redaction.tenant_id', 'redaction.tenant_name') }} as scope_justification,
        events.applies_because,
        {{ redact('actor_id') }} as actor_id,
        {{ own_tenant_or_hidden('events.actor_tenant_id', 'redaction.tenant_id') }} as actor_tenant_id,
        {{ redact('actor_email') }} as actor_email,
        {{ redact('actor_ip') }} as actor_ip,
        {{ redact('user_agent') }} as user_agent,
        events.service,
        events.action,
        events.resource_type,
        {{ scrub_if_mentioned('mentions.event_id is not null', 'events.resource_id', 'redaction.tenant_id', 'redaction.tenant_name') }} as resource_id,
        events.outcome,
        {{ scrub_if_mentioned('mentions.event_id is not null', 'events.reason', 'redaction.tenant_id', 'redaction.tenant_name') }} as reason,
        {{ scrub_if_mentioned('mentions.event_id is not null', 'events.details', 'redaction.tenant_id', 'redaction.tenant_name') }} as details,
        events.source_file,
        events.source_line
    from events
    inner join redaction on events.bundle_tenant_id = redaction.tenant_id
    left join mentions on events.event_id = mentions.event_id
)

select * from final
