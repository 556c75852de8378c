with source as (
    select * from {{ source('raw', 'evidence_events') }}
),

final as (
    select
        evidence_id,
        control_id,
        tenant_id,
        global_scope,
        scope_justification,
        service_id,
        observed_at,
        status,
        source,
        artefact_uri,
        _file as source_file,
        _line as source_line
    from source
)

select * from final
