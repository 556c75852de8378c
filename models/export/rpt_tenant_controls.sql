with controls as (
    select * from {{ ref('dim_tenant_controls') }}
),

final as (
    select
        tenant_id,
        control_id,
        family,
        title,
        freshness_days
    from controls
)

select * from final
