with source as (
    select * from {{ source('raw', 'tenants') }}
),

final as (
    select
        tenant_id,
        tenant_name,
        tenant_class,
        residency_region,
        onboarded_at,
        offboarded_at
    from source
)

select * from final
