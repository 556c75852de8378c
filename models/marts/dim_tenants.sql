with tenants as (
    select * from {{ ref('int_tenants_joined_to_policies') }}
),

final as (
    select
        tenant_id,
        tenant_name,
        tenant_class,
        residency_region,
        onboarded_at,
        offboarded_at,
        redaction_profile,
        retention_days,
        encryption_required,
        export_cadence,
        export_formats,
        notification_sla_hours,
        evidence_freshness_days
    from tenants
)

select * from final
