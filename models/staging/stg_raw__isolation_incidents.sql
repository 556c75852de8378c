with source as (
    select * from {{ source('raw', 'isolation_incidents') }}
),

final as (
    select
        incident_id,
        detected_at,
        source as detected_by,
        run_id,
        tenant_id,
        tenants_in_incident,
        failed_checks,
        failed_expectations,
        unexpected_rows
    from source
)

select * from final
