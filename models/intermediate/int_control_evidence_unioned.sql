{# The evidence that counts for a tenant's control: the tenant's own evidence, and evidence of a
   shared service that applies to the tenant for a control the service is allowed to cover
   (seeds/control_inheritance.csv: policy as data). A shared service's evidence covers no
   control it is not listed for: a per-tenant control stays per tenant. #}
with evidence as (
    select * from {{ ref('int_evidence_attributed') }}
),

inheritance as (
    select * from {{ ref('control_inheritance') }}
),

own as (
    select
        bundle_tenant_id as tenant_id,
        control_id,
        evidence_id,
        observed_at,
        status,
        'tenant' as evidence_origin,
        cast(null as string) as service_id
    from evidence
    where attribution = 'tenant'
),

inherited as (
    select
        evidence.bundle_tenant_id as tenant_id,
        evidence.control_id,
        evidence.evidence_id,
        evidence.observed_at,
        evidence.status,
        'shared_service' as evidence_origin,
        evidence.service_id
    from evidence
    inner join inheritance
        on evidence.control_id = inheritance.control_id
        and evidence.service_id = inheritance.service_id
    where evidence.attribution = 'global_scope'
),

final as (
    select * from own
    union all
    select * from inherited
)

select * from final
