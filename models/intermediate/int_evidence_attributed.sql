{# Evidence on the tenant it belongs to: a tenant's own evidence, and shared-service (global)
   evidence joined to every tenant its service applies to, with the trace of why. #}
with evidence as (
    select * from {{ ref('stg_raw__evidence_events') }}
),

applied as (
    select * from {{ ref('int_shared_services_applied') }}
),

tenant_evidence as (
    select
        evidence.*,
        evidence.tenant_id as bundle_tenant_id,
        'tenant' as attribution,
        cast(null as string) as applies_because
    from evidence
    where evidence.tenant_id is not null
),

shared_evidence as (
    select
        evidence.*,
        applied.tenant_id as bundle_tenant_id,
        'global_scope' as attribution,
        'service ' || applied.service_id || ': ' || applied.applies_because as applies_because
    from evidence
    inner join applied on evidence.service_id = applied.service_id
    where evidence.global_scope is not null
),

final as (
    select * from tenant_evidence
    union all
    select * from shared_evidence
)

select * from final
