{# The first word of every tenant identifier (id or name), lowercased, with its tenant: what a
   text must contain to possibly name that tenant. #}
with tenants as (
    select * from {{ ref('stg_raw__tenants') }}
),

identifiers as (
    select
        tenant_id,
        tenant_id as identifier
    from tenants
    union all
    select
        tenant_id,
        tenant_name as identifier
    from tenants
    where tenant_name is not null
),

final as (
    select distinct
        tenant_id,
        {{ first_word('identifier') }} as token
    from identifiers
)

select * from final
where token is not null and token <> ''
