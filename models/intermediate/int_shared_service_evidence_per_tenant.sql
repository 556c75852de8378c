{# Shared-service evidence (global scope) on every tenant its service applies to, with the
   trace of why (spec §2.3, §4.4); within each tenant's retention window as of the build (the
   global row itself is the platform's, so the window applies to the tenant's copy here, and a
   retention purge and the next build agree). fct_shared_service_evidence scrubs its text. #}
with evidence as (
    select * from {{ ref('int_evidence_attributed') }}
    where attribution = 'global_scope'
),

tenants as (
    select * from {{ ref('int_tenants_joined_to_policies') }}
),

final as (
    select
        tenants.tenant_id,
        evidence.evidence_id,
        evidence.service_id,
        evidence.control_id,
        evidence.observed_at,
        {{ month_key('evidence.observed_at') }} as period,
        evidence.status,
        evidence.source,
        evidence.artefact_uri,
        evidence.global_scope,
        evidence.scope_justification,
        evidence.applies_because,
        evidence.source_file,
        evidence.source_line
    from evidence
    inner join tenants on evidence.bundle_tenant_id = tenants.tenant_id
    where
        evidence.observed_at
        >= {{ timestamp_add('day', '-1 * tenants.retention_days', as_of()) }}
)

select * from final
