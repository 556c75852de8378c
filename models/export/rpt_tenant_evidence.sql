with evidence as (
    select * from {{ ref('fct_evidence') }}
),

final as (
    select
        tenant_id,
        period,
        evidence_id,
        control_id,
        observed_at,
        status,
        source,
        artefact_uri
    from evidence
)

select * from final
