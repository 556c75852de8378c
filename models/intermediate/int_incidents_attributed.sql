{# Each incident on every tenant it affects: a tenant's incident on that tenant; a shared
   service's incident (global scope) on each tenant the service applies to; a global incident
   that names no service on every registered tenant (platform-wide), with the reason. #}
with incidents as (
    select * from {{ ref('stg_raw__incidents') }}
),

applied as (
    select * from {{ ref('int_shared_services_applied') }}
),

tenants as (
    select * from {{ ref('stg_raw__tenants') }}
),

tenant_incidents as (
    select
        incidents.*,
        incidents.tenant_id as affected_tenant_id,
        'tenant' as attribution,
        cast(null as string) as applies_because
    from incidents
    where incidents.tenant_id is not null
),

service_incidents as (
    select
        incidents.*,
        applied.tenant_id as affected_tenant_id,
        'global_scope' as attribution,
        'service ' || applied.service_id || ': ' || applied.applies_because as applies_because
    from incidents
    inner join applied on incidents.service_id = applied.service_id
    where incidents.global_scope is not null
),

platform_incidents as (
    select
        incidents.*,
        tenants.tenant_id as affected_tenant_id,
        'global_scope' as attribution,
        'platform-wide incident: no shared service named' as applies_because
    from incidents
    cross join tenants
    where incidents.global_scope is not null and incidents.service_id is null
),

final as (
    select * from tenant_incidents
    union all
    select * from service_incidents
    union all
    select * from platform_incidents
)

select * from final
