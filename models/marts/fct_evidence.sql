{# A tenant's own compliance evidence (spec §5.4). #}
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
        {{ scrub_foreign_tenants('evidence.artefact_uri', 'tenants.tenant_id', 'tenants.tenant_name') }} as artefact_uri,
        evidence.source_file,
        evidence.source_line
    from evidence
    inner join tenants on evidence.bundle_tenant_id = tenants.tenant_id
)

select * from final
