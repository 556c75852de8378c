with source as (
    select * from {{ source('raw', 'published_bundles') }}
),

final as (
    select
        tenant_id,
        period,
        residency_region,
        generated_at,
        run_id,
        validation_success
    from source
)

select * from final
