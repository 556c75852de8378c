{# Invariant (spec §2.3): shared-service evidence is global-scope evidence fanned out to tenants,
   so every row says why it is global: a non-empty scope_justification (blank text counts as
   none). Returns the rows that break it. #}
with shared_evidence as (
    select * from {{ ref('fct_shared_service_evidence') }}
),

final as (
    select tenant_id, evidence_id, service_id
    from shared_evidence
    where coalesce(trim(scope_justification), '') = ''
)

select * from final
