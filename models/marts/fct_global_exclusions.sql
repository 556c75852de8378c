{# Global-scope rows that reach no tenant's bundle, with the reason: nothing is lost silently
   (DESIGN principle 6). #}
with events as (
    select * from {{ ref('stg_raw__audit_events') }}
    where global_scope is not null
),

evidence as (
    select * from {{ ref('stg_raw__evidence_events') }}
    where global_scope is not null
),

applied as (
    select distinct service_id from {{ ref('int_shared_services_applied') }}
),

final as (
    select
        'audit_events' as source,
        events.event_id as record_id,
        events.service as service_id,
        (
            'global scope: service ' || coalesce(events.service, '(none)')
            || ' applies to no registered tenant'
        ) as reason
    from events
    left join applied on events.service = applied.service_id
    where applied.service_id is null
    union all
    select
        'evidence_events' as source,
        evidence.evidence_id as record_id,
        evidence.service_id,
        (
            'global scope: service ' || coalesce(evidence.service_id, '(none)')
            || ' applies to no registered tenant'
        ) as reason
    from evidence
    left join applied on evidence.service_id = applied.service_id
    where applied.service_id is null
)

select * from final
