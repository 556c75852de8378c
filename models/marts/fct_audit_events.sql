{# Audit events per bundle tenant, redacted by the tenant's profile and with other tenants'
   identifiers scrubbed from every free-text column. Incremental: a build appends the events
   loaded since the last one; a change of policy or registry rebuilds it in full
   (tenantproof/transform/buildstate.py). #}
{{ config(materialized='incremental', incremental_strategy='append') }}

{% set new_rows %}
    {% if is_incremental() %}
    where loaded_at > (select coalesce(max(loaded_at), cast('1970-01-01' as timestamp)) from {{ this }})
    {% endif %}
{% endset %}

with loaded as (
    select * from {{ ref('stg_raw__audit_events') }} {{ new_rows }}
),

events as (
    select * from {{ ref('int_audit_events_attributed') }} {{ new_rows }}
),

redaction as (
    select * from {{ ref('int_tenants_joined_to_policies') }}
),

mentions as (
    {# on the events as loaded, before global events fan out: a global event that names any
       tenant is scrubbed for every tenant that receives it #}
    {{ tenant_mentions(
        'loaded', ['event_id'], "coalesce(tenant_id, '')",
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
        {{ scrub_if_mentioned(
            'mentions.event_id is not null', 'events.scope_justification', 'redaction.tenant_id',
            'redaction.tenant_name'
        ) }} as scope_justification,
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
        {{ scrub_if_mentioned(
            'mentions.event_id is not null', 'events.resource_id', 'redaction.tenant_id',
            'redaction.tenant_name'
        ) }} as resource_id,
        events.outcome,
        {{ scrub_if_mentioned(
            'mentions.event_id is not null', 'events.reason', 'redaction.tenant_id',
            'redaction.tenant_name'
        ) }} as reason,
        {{ scrub_if_mentioned(
            'mentions.event_id is not null', 'events.details', 'redaction.tenant_id',
            'redaction.tenant_name'
        ) }} as details,
        events.source_file,
        events.source_line,
        events.loaded_at
    from events
    inner join redaction on events.bundle_tenant_id = redaction.tenant_id
    left join mentions on events.event_id = mentions.event_id
)

-- clustered by tenant and period: a scoped read of a few tenants skips the other row groups
select * from final
order by tenant_id, period
