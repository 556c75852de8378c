{# Which tenants each shared service applies to (SSBR, spec §4.4), and why. The rule is data:
   all tenants, a residency region, a tenant class, or an explicit list of tenant ids
   ('|'-separated in applies_to_value). Delimited matching keeps t1 and t10 apart. #}
with services as (
    select * from {{ ref('shared_services') }}
),

tenants as (
    select * from {{ ref('stg_raw__tenants') }}
),

final as (
    select
        services.service_id,
        services.capability,
        tenants.tenant_id,
        case services.applies_to_kind
            when 'all' then 'applies to all tenants'
            when 'region' then 'applies to residency region ' || tenants.residency_region
            when 'class' then 'applies to tenant class ' || tenants.tenant_class
            when 'tenants' then 'applies to listed tenant ' || tenants.tenant_id
        end as applies_because
    from services
    inner join tenants
        on services.applies_to_kind = 'all'
        or (
            services.applies_to_kind = 'region'
            and '|' || services.applies_to_value || '|'
            like '%|' || tenants.residency_region || '|%'
        )
        or (
            services.applies_to_kind = 'class'
            and '|' || services.applies_to_value || '|' like '%|' || tenants.tenant_class || '|%'
        )
        or (
            services.applies_to_kind = 'tenants'
            and '|' || services.applies_to_value || '|' like '%|' || tenants.tenant_id || '|%'
        )
)

select * from final
