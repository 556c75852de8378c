with source as (
    select * from {{ source('raw', 'tenant_hash_keys') }}
),

final as (
    select
        tenant_id,
        hash_key
    from source
)

select * from final
