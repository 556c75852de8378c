{# The controls that apply to each tenant, from its class (controls catalogue). #}
with tenants as (
    select * from {{ ref('stg_raw__tenants') }}
),

controls as (
    select * from {{ ref('controls') }}
),

final as (
    select
        tenants.tenant_id,
        controls.control_id,
        controls.family,
        controls.title,
        controls.freshness_days
    from tenants
    inner join controls
        on '|' || controls.applies_to_classes || '|' like '%|' || tenants.tenant_class || '|%'
)

select * from final
