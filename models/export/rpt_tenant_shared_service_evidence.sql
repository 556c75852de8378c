with evidence as (
    select * from {{ ref('fct_shared_service_evidence') }}
),

final as (
    select
        tenant_id,
        period,
        evidence_id,
        service_id,
        control_id,
        observed_at,
        status,
        source,
        artefact_uri,
        global_scope,
        scope_justification,
        applies_because
    from evidence
)

select * from final
