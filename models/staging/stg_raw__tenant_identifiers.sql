with source as (
    select * from {{ source('raw', 'tenant_identifiers') }}
),

final as (
    select
        tenant_id,
        identifier,
        pattern,
        first_word,
        own_marked
    from source
)

select * from final
