{# What the export needs to know of each tenant to lay out and label its bundles. #}
with tenants as (
    select * from {{ ref('dim_tenants') }}
),

final as (
    select
        tenant_id,
        tenant_name,
        tenant_class,
        residency_region,
        redaction_profile
    from tenants
)

select * from final
