{# A tenant's evidence freshness as it goes into its bundle's freshness_report.html. #}
{# Every text column scrubbed of other tenants' identifiers, like the data files. #}
{# A table, not a view: the scrub's SQL grows with the registry, past what a metastore keeps
   as a view's text (Spark's Derby metastore stops at 32,700 characters). #}
{{ config(materialized='table') }}

with freshness as (
    {{ scrubbed(ref('fct_evidence_freshness')) }}
),

final as (
    select
        tenant_id,
        control_id,
        family,
        title,
        freshness_sla_days,
        last_evidence_at,
        last_evidence_origin,
        last_evidence_service_id,
        last_evidence_status,
        evidence_count,
        age_days,
        status,
        as_of
    from freshness
)

select * from final
