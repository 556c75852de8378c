{# A tenant's own compliance evidence (spec §5.4). #}
with evidence as (
    select * from {{ ref('int_evidence_attributed') }}
    where attribution = 'tenant'
),

tenants as (
    select * from {{ ref('int_tenants_joined_to_policies') }}
),

mentions as (
    {{ tenant_mentions(
        ref('stg_raw__evidence_events'), ['evidence_id'], "coalesce(tenant_id, '')",
        ['artefact_uri']
    ) }}
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
        {{ scrub_if_mentioned(
            'mentions.evidence_id is not null', 'evidence.artefact_uri', 'tenants.tenant_id',
            'tenants.tenant_name'
        ) }} as artefact_uri,
        evidence.source_file,
        evidence.source_line
    from evidence
    inner join tenants on evidence.bundle_tenant_id = tenants.tenant_id
    left join mentions on evidence.evidence_id = mentions.evidence_id
)

select * from final
