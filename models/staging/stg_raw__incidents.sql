with source as (
    select * from {{ source('raw', 'incidents') }}
),

final as (
    select
        incident_id,
        detected_at,
        tenant_id,
        global_scope,
        scope_justification,
        service_id,
        severity,
        notified_at,
        summary,
        _file as source_file,
        _line as source_line
    from source
)

select * from final
