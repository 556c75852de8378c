{# Every audit event on the tenant it belongs to: tenant events as they are, global-scope events
   of a shared service fanned out to each tenant that service applies to, with the trace. #}
with events as (
    select * from {{ ref('stg_raw__audit_events') }}
),

applied as (
    select * from {{ ref('int_shared_services_applied') }}
),

tenant_events as (
    select
        events.*,
        events.tenant_id as bundle_tenant_id,
        'tenant' as attribution,
        cast(null as string) as applies_because
    from events
    where events.tenant_id is not null
),

global_events as (
    select
        events.*,
        applied.tenant_id as bundle_tenant_id,
        'global_scope' as attribution,
        'service ' || applied.service_id || ': ' || applied.applies_because as applies_because
    from events
    inner join applied on events.service = applied.service_id
    where events.global_scope is not null
),

final as (
    select * from tenant_events
    union all
    select * from global_events
)

select * from final
