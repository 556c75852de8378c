{# A tenant's own compliance evidence (spec §5.4), on its bundle tenant; fct_evidence scrubs
   its text of other tenants' identifiers. #}
with evidence as (
    select * from {{ ref('int_evidence_attributed') }}
    where attribution = 'tenant'
),

tenants as (
    select * from {{ ref('int_tenants_joined_to_policies') }}
),

final as (
    select
        tenants.tenant_id,
        evidence.evidence_id,
        evidence.control_id,
        evidence.observed_at,
        {{ month_key('evidence.observed_at') }} as period,
        evidence.status,
        evidence.source,
        evidence.artefact_uri,
        evidence.source_file,
        evidence.source_line
    from evidence
    inner join tenants on evidence.bundle_tenant_id = tenants.tenant_id
)

select * from final
