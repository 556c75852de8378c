{# The drift flags that affect a tenant, one row per flag and affected tenant, as they go into
   its bundle's freshness_report.html: a global flag appears for each tenant it affects, without
   the list of the others, and its text is scrubbed of other tenants' identifiers. #}
with flags as (
    select * from {{ ref('fct_drift_flags') }}
),

tenants as (
    select * from {{ ref('dim_tenants') }}
),

final as (
    select
        tenants.tenant_id,
        flags.flag_id,
        flags.kind,
        flags.severity,
        case when flags.tenant_id is null then 'global' else 'tenant' end as scope,
        flags.global_scope,
        flags.service_id,
        flags.control_id,
        {{ scrub_foreign_tenants('flags.subject', 'tenants.tenant_id', 'tenants.tenant_name') }} as subject,
        flags.detected_at,
        {{ scrub_foreign_tenants('flags.evidence', 'tenants.tenant_id', 'tenants.tenant_name') }} as evidence,
        flags.as_of
    from flags
    inner join tenants on {{ list_has('flags.affected_tenants', 'tenants.tenant_id') }}
)

select * from final
